import { type Embedder, HashingEmbedder } from '@dualwrite/core';
import { OpenAiEmbedder } from '../embedders/openai-embedder.js';
import type { EmbedderSection } from '../schema.js';

/**
 * The embedder `section.kind` names, or `undefined` for `none`:
 * - `hashing` (default): {@link HashingEmbedder} — deterministic and offline, but **lexical**, not
 *   semantic: texts that share words are close; synonyms are not.
 * - `openai`: {@link OpenAiEmbedder} against an OpenAI-compatible endpoint.
 * - `none`: every write must carry its embedding.
 */
export function createEmbedder(section: EmbedderSection): Embedder | undefined {
  if (section.kind === 'none') return undefined;
  if (section.kind === 'openai')
    return new OpenAiEmbedder({
      baseUrl: section.baseUrl!,
      model: section.model!,
      apiKey: section.apiKey,
      dimension: section.dimension,
      requestDimensions: section.requestDimensions,
      timeoutMs: section.timeoutMs,
      maxBatchSize: section.maxBatchSize,
    });
  return new HashingEmbedder({ dimension: section.dimension });
}

/** One line naming the embedder (no secrets), e.g. `hashing (lexical, 384-d)`. */
export function describeEmbedder(section: EmbedderSection): string {
  if (section.kind === 'none') return `none (writes carry ${section.dimension}-d embeddings)`;
  if (section.kind === 'openai')
    return `openai-compatible ${section.model} @ ${section.baseUrl} (${section.dimension}-d)`;
  return `hashing (lexical, ${section.dimension}-d)`;
}
