/**
 * Runs sibling writer processes ({@link SiblingConfig}) that put the same ids into one source of truth and
 * one vector index at the same moment, and collects how many puts each saw acknowledged.
 *
 * @packageDocumentation
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { StrategyName } from '@dualwrite/core';
import { childNodeArgs } from './child.js';
import type { RelationalBackendSpec, VectorBackendSpec } from './protocol.js';

const run = promisify(execFile);

/** What one sibling writer does. Times are Unix ms. */
export interface SiblingConfig {
  relational: RelationalBackendSpec;
  vector: VectorBackendSpec;
  dimension: number;
  strategy: StrategyName;
  /** The ids every sibling puts, all at once. */
  ids: string[];
  /** When to start writing (all siblings share it, so their first inserts race). */
  startAt: number;
  /** Names the writer in the text it writes. */
  tag: string;
}

/**
 * Starts `count` sibling writers on the same ids and waits for them.
 * @returns each writer's acknowledged puts.
 * @throws when a writer exits non-zero (its stderr in the message).
 */
export async function runSiblingWriters(
  config: Omit<SiblingConfig, 'tag' | 'startAt'> & { startInMs?: number },
  count = 2,
): Promise<number[]> {
  const { startInMs = 2_000, ...shared } = config;
  const startAt = Date.now() + startInMs;
  const entry = fileURLToPath(new URL('./sibling-writer-main.ts', import.meta.url));
  const outputs = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      run(process.execPath, childNodeArgs(entry, { ...shared, startAt, tag: `sibling-${i}` }), {
        maxBuffer: 1 << 20,
      }),
    ),
  );
  return outputs.map((o) => Number(o.stdout.trim()));
}
