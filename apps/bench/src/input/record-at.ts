import type { HashingEmbedder, Metadata } from '@dualwrite/core';
import type { SymbolSummary } from './extract-summaries.js';

// No runtime import of `typescript` here: the backlog worker uses this module and must stay lean.

/** A record as the benchmark writes it: the embedding is computed up front (not timed). */
export interface BenchRecord {
  id: string;
  text: string;
  embedding: number[];
  metadata: Metadata;
}

/**
 * Record `index` of the cyclic sequence over `summaries`: pass `p` (0-based) of the summaries gives ids
 * suffixed `#<p+1>` from the second pass on, so ids stay unique however many records are asked for.
 */
export function recordAt(
  summaries: readonly SymbolSummary[],
  index: number,
  embedder: HashingEmbedder,
): BenchRecord {
  if (summaries.length === 0) throw new Error('no documented declarations found in the input');
  const s = summaries[index % summaries.length]!;
  const pass = Math.floor(index / summaries.length) + 1;
  const text = `${s.name} (${s.level}): ${s.text}`;
  return {
    id: pass === 1 ? s.id : `${s.id}#${pass}`,
    text,
    embedding: embedder.embedOne(text),
    metadata: { level: s.level, file: s.file, symbol: s.name },
  };
}
