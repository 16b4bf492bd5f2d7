import { type Embedder, HashingEmbedder } from '@dualwrite/core';
import type { AppConfig } from '../config/schema.js';
import { OpenAiEmbedder } from './openai-embedder.js';

/**
 * The embedder the config names:
 * - `hashing` (default): {@link HashingEmbedder} — deterministic and offline, but **lexical**, not
 *   semantic: texts that share words are close; synonyms are not.
 * - `openai`: {@link OpenAiEmbedder} against an OpenAI-compatible endpoint.
 */
export function createEmbedder(config: AppConfig['embedder']): Embedder {
  if (config.kind === 'openai')
    return new OpenAiEmbedder({
      baseUrl: config.baseUrl!,
      model: config.model!,
      apiKey: config.apiKey,
      dimension: config.dimension,
      requestDimensions: config.requestDimensions,
      timeoutMs: config.timeoutMs,
      maxBatchSize: config.maxBatchSize,
    });
  return new HashingEmbedder({ dimension: config.dimension });
}
