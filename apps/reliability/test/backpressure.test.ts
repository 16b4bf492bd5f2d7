/**
 * A slow vector store (FaultyVectorStore.latencyMs over a real LanceDB) lets the outbox grow; backpressure
 * engages at the configured depth: `mode: 'fail'` rejects with BackpressureError (nothing written), `mode:
 * 'wait'` holds the write until the backlog drains below the limit, then admits it.
 */
import { join } from 'node:path';
import {
  BackpressureError,
  type BackpressureOptions,
  createDualWrite,
  type DualWrite,
  FaultyVectorStore,
  HashingEmbedder,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { DIM, expectConverged, FAST, rec, tempDir } from './helpers.js';

describe.each(['async-queue', 'batch'] as const)('slow vector store with backpressure (%s)', (strategy) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  async function setup(backpressure: BackpressureOptions, latencyMs: number) {
    const { dir, remove } = await tempDir('dualwrite-bp-');
    cleanups.push(remove);
    const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
    const vector = new FaultyVectorStore(
      await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM }),
    );
    vector.latencyMs = latencyMs;
    const dw: DualWrite = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy:
        strategy === 'batch'
          ? { name: 'batch', maxBatchSize: 4, maxDelayMs: 5 }
          : { name: strategy, concurrency: 1 },
      delivery: FAST,
      backpressure,
    });
    cleanups.push(() => dw.close({ drain: false, timeoutMs: 2_000 }));
    return { dw, relational, vector };
  }

  it("mode 'fail': BackpressureError once the outbox is at maxDepth; rejected writes leave nothing behind", async () => {
    const maxDepth = 10;
    const { dw, relational, vector } = await setup({ maxDepth, mode: 'fail', depthCacheMs: 0 }, 80);
    const accepted: string[] = [];
    const rejected: BackpressureError[] = [];
    let deepest = 0;
    for (let i = 0; i < 60; i++) {
      try {
        await dw.put(rec(`bp-${i}`));
        accepted.push(`bp-${i}`);
      } catch (error) {
        expect(error).toBeInstanceOf(BackpressureError);
        rejected.push(error as BackpressureError);
      }
      deepest = Math.max(deepest, (await dw.stats()).outboxDepth);
    }
    expect(rejected.length, 'backpressure engaged').toBeGreaterThan(0);
    expect(accepted.length, 'writes below the limit are admitted').toBeGreaterThanOrEqual(maxDepth);
    expect(deepest, 'the outbox never grows past the limit').toBeLessThanOrEqual(maxDepth);
    for (const e of rejected) {
      expect(e).toMatchObject({ code: 'BACKPRESSURE', retryable: true, limit: maxDepth });
      expect(e.depth).toBeGreaterThanOrEqual(maxDepth);
      expect(e.message).toMatch(/backpressure\.maxDepth 10/);
    }
    await expectConverged(dw, relational, vector);
    const rows = await relational.getRecords(Array.from({ length: 60 }, (_, i) => `bp-${i}`));
    expect([...rows.keys()].sort()).toEqual([...accepted].sort());
  });

  it("mode 'wait': a write over the limit is held until the backlog drains, then admitted", async () => {
    const maxDepth = 5;
    const { dw, relational, vector } = await setup(
      { maxDepth, mode: 'wait', waitTimeoutMs: 30_000, depthCacheMs: 0 },
      40,
    );
    const waits: number[] = [];
    let deepest = 0;
    for (let i = 0; i < 30; i++) {
      const started = Date.now();
      await dw.put(rec(`w-${i}`));
      waits.push(Date.now() - started);
      deepest = Math.max(deepest, (await dw.stats()).outboxDepth);
    }
    expect(deepest).toBeLessThanOrEqual(maxDepth);
    const held = waits.filter((w) => w >= 30).length;
    expect(held, `writes held (ms per write: ${waits.join(',')})`).toBeGreaterThan(5);
    await expectConverged(dw, relational, vector);
    expect(await relational.countRecords()).toBe(30);
  });
});
