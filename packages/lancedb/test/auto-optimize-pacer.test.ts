/**
 * Automatic optimizes take at most `autoOptimizeShare` of the write time: one LanceDB optimize rewrites the
 * whole table, so on a large table they come less often, in proportion to what a run costs.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AutoOptimizePacer, LanceDbVectorStore } from '../src/index.js';
import { record, tempDir } from './helpers.js';

describe('AutoOptimizePacer', () => {
  it('asks once after minWrites, then paces by what the last run cost against the mean write', () => {
    const pacer = new AutoOptimizePacer(50, 0.25);
    for (let i = 0; i < 49; i++) expect(pacer.noteWrite(20)).toBe(false);
    expect(pacer.noteWrite(20)).toBe(true);
    // Asked for and not run yet: later writes do not ask again.
    expect(pacer.noteWrite(20)).toBe(false);
    // 500 ms against 20 ms writes at a quarter share: 500 / (0.25 × 20) = 100 writes.
    pacer.noteOptimize(500);
    expect(pacer.state()).toEqual({ interval: 100, writesSince: 0, lastRunMs: 500, runs: 1 });
    for (let i = 0; i < 99; i++) expect(pacer.noteWrite(20)).toBe(false);
    expect(pacer.noteWrite(20)).toBe(true);
    // A cheap run brings it back to the floor.
    pacer.noteOptimize(10);
    expect(pacer.state().interval).toBe(50);
  });

  it('asks again one interval after a failed run, not on the next write; never when disabled', () => {
    const pacer = new AutoOptimizePacer(2, 0.25);
    pacer.noteWrite(5);
    expect(pacer.noteWrite(5)).toBe(true);
    pacer.noteOptimizeFailed();
    expect(pacer.noteWrite(5)).toBe(false);
    expect(pacer.noteWrite(5)).toBe(true);
    const off = new AutoOptimizePacer(0, 0.25);
    for (let i = 0; i < 1_000; i++) expect(off.noteWrite(5)).toBe(false);
  });
});

describe('LanceDbVectorStore auto-optimize pacing (real table)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it('feeds measured write and optimize times to the pacer; explicit optimizes count too', async () => {
    const uri = await tempDir();
    cleanups.push(() => rm(uri, { recursive: true, force: true }));
    // A tiny share: any real optimize costs far more than 0.1 % of three writes, so the interval must grow.
    const store = await LanceDbVectorStore.open({
      uri,
      dimension: 8,
      autoOptimizeEvery: 3,
      autoOptimizeShare: 0.001,
    });
    cleanups.push(() => store.close());
    expect(store.autoOptimizeState()).toEqual({ interval: 3, writesSince: 0, lastRunMs: null, runs: 0 });
    for (let i = 0; i < 3; i++) await store.upsert([record(`r${i}`, 8)]);
    // The background optimize queued behind the third write; the next write waits for it.
    await store.upsert([record('r3', 8)]);
    const after = store.autoOptimizeState();
    expect(after.lastRunMs).toBeGreaterThan(0);
    expect(after.interval).toBeGreaterThan(3);
    expect(after.writesSince).toBe(1);
    expect(after.runs).toBe(1);
    await store.optimize();
    expect(store.autoOptimizeState()).toMatchObject({ writesSince: 0, runs: 2 });
    expect(await store.count()).toBe(4);
  });

  it('refuses a share outside (0, 1]', async () => {
    for (const autoOptimizeShare of [0, 1.5, Number.NaN])
      await expect(
        LanceDbVectorStore.open({ uri: '/tmp/unused', dimension: 8, autoOptimizeShare }),
      ).rejects.toMatchObject({
        field: 'options.autoOptimizeShare',
      });
  });
});
