import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DeliveryOptions,
  type DualWrite,
  type RelationalStore,
  type VectorStore,
  verifyConsistency,
} from '@dualwrite/core';
import { afterEach, expect } from 'vitest';
import { SUITE_DELIVERY } from '../src/backends.js';

/** Vector dimension used by the tests. */
export const DIM = 16;

/** Delivery knobs for in-process tests: the suite's, but only 3 attempts, so a charged outage would dead-letter fast. */
export const FAST: Partial<DeliveryOptions> = {
  ...(SUITE_DELIVERY as Partial<DeliveryOptions>),
  maxAttempts: 3,
};

/** A temp dir and its removal. */
export async function tempDir(
  prefix = 'dualwrite-rel-',
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A record input with a recognisable text. */
export function rec(
  id: string,
  text = `text of ${id}`,
  metadata: Record<string, string | number | boolean> = {},
) {
  return { id, text, metadata };
}

/** Flushes, then asserts the index equals the source of truth exactly and nothing is dead-lettered. */
export async function expectConverged(
  dw: DualWrite,
  relational: RelationalStore,
  vector: VectorStore,
  options: { timeoutMs?: number; deadLetters?: number } = {},
) {
  const flushed = await dw.flush({ timeoutMs: options.timeoutMs ?? 30_000 });
  expect(flushed.deadLetters, 'dead letters after flush').toBe(options.deadLetters ?? 0);
  const report = await verifyConsistency(relational, vector);
  expect(report, JSON.stringify(report.examples)).toMatchObject({
    lost: 0,
    stale: 0,
    mismatched: 0,
    orphans: 0,
  });
  return report;
}

/** Polls `check` every 10 ms until it returns true, or throws after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The rejection of `promise` (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection, but the call resolved');
}

/**
 * Per-test resources of a test file: facades to close and temp dirs to remove after each test.
 * Call once at module level; `track(dw)` and `dir(prefix)` register what a test opens.
 */
export function perTestResources() {
  const open: DualWrite[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const dw of open.splice(0)) await dw.close({ drain: false, timeoutMs: 2_000 }).catch(() => {});
    for (const c of cleanups.splice(0)) await c();
  });
  return {
    /** Closes `dw` (without draining) after the test. */
    track<T extends DualWrite>(dw: T): T {
      open.push(dw);
      return dw;
    },
    /** A temp dir removed after the test. */
    async dir(prefix: string): Promise<string> {
      const t = await tempDir(prefix);
      cleanups.push(t.remove);
      return t.dir;
    },
    /** Runs `fn` after the test. */
    defer(fn: () => Promise<void>): void {
      cleanups.push(fn);
    },
  };
}
