/**
 * The source of truth misbehaves: another connection holds the SQLite write lock (SQLITE_BUSY past a short
 * busy timeout), or the disk is full (SQLITE_FULL on a tiny tmpfs). Writes fail with typed, retryable errors
 * — never an unhandled rejection — nothing accepted is corrupted or lost, and after the lock is released /
 * space is freed, writing continues and the index converges.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  BackendUnavailableError,
  createDualWrite,
  type DualWrite,
  HashingEmbedder,
  STRATEGY_NAMES,
  TransientBackendError,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TracingVectorStore } from '../src/tracing-vector-store.js';
import { DIM, expectConverged, FAST, rec, rejection, tempDir, waitFor } from './helpers.js';

const run = promisify(execFile);
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe.each(STRATEGY_NAMES)('SQLite locked by another connection (%s)', (strategy) => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {});
  });

  async function setup(
    vectorWrap: (v: LanceDbVectorStore) => import('@dualwrite/core').VectorStore = (v) => v,
  ) {
    const { dir, remove } = await tempDir('dualwrite-busy-');
    cleanups.push(remove);
    const path = join(dir, 'source.db');
    const relational = new SqliteRelationalStore({ path, busyTimeoutMs: 50 });
    const inner = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM });
    const vector = vectorWrap(inner);
    const dw: DualWrite = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy,
      delivery: FAST,
    });
    cleanups.push(() => dw.close({ drain: false, timeoutMs: 2_000 }));
    const drainErrors: string[] = [];
    dw.events.on('drain-error', ({ error }) => drainErrors.push(error));
    return { dw, relational, vector, path, drainErrors };
  }

  it('writes fail with TransientBackendError while locked; reads work; after release everything converges', async () => {
    const { dw, relational, vector, path, drainErrors } = await setup();
    for (let i = 0; i < 10; i++) await dw.put(rec(`before-${i}`));
    await expectConverged(dw, relational, vector);

    const locker = new Database(path);
    cleanups.push(() => locker.open && locker.close());
    locker.exec('BEGIN IMMEDIATE');
    const attempts: [string, () => Promise<unknown>][] = [
      ['put', () => dw.put(rec('locked-put'))],
      ['putMany', () => dw.putMany([rec('locked-a'), rec('locked-b')])],
      ['update', () => dw.put(rec('before-1', 'changed while locked'))],
      ['delete', () => dw.delete('before-2')],
    ];
    for (const [what, call] of attempts) {
      const error = await rejection(call());
      expect(error, what).toBeInstanceOf(TransientBackendError);
      expect(error, what).toMatchObject({ code: 'TRANSIENT_BACKEND', retryable: true, component: 'sqlite' });
      expect(error.message, what).toMatch(/SQLITE_BUSY/);
    }
    expect((await dw.get('before-3'))?.text, 'reads are not blocked (WAL)').toBe('text of before-3');
    await new Promise((r) => setTimeout(r, 200)); // the drainer keeps polling against the lock
    locker.exec('COMMIT');
    locker.close();

    await dw.putMany([rec('after-a'), rec('after-b')]);
    await expectConverged(dw, relational, vector);
    const rows = await relational.getRecords(['locked-put', 'locked-a', 'locked-b', 'before-1', 'before-2'], {
      includeDeleted: true,
    });
    expect([...rows.keys()].sort()).toEqual(['before-1', 'before-2']);
    expect(rows.get('before-1')!.text).toBe('text of before-1');
    expect(rows.get('before-2')!.deleted).toBe(false);
    expect(integrity(path)).toBe('ok');
    expect(unhandled, 'no unhandled rejection').toEqual([]);
    console.log(`[sqlite-busy] ${strategy}: ${drainErrors.length} drain errors handled while locked`);
  });

  it.runIf(strategy === 'sync-2pc')(
    'sync-2pc: the lock is taken between the vector write and the commit → typed error, no half-write',
    async () => {
      let locker: Database.Database | undefined;
      let armed = false;
      const { dw, relational, vector, path } = await setup(
        (inner) =>
          new TracingVectorStore(inner, {
            gate: (_op, ids) => {
              if (armed && ids.includes('commit-blocked')) {
                armed = false;
                locker = new Database(path);
                locker.exec('BEGIN IMMEDIATE');
              }
            },
          }),
      );
      cleanups.push(() => locker?.open && locker.close());
      await dw.put(rec('commit-blocked', 'first version'));
      await expectConverged(dw, relational, vector);
      // The interesting call: its vector write succeeds, then its commit finds the lock taken.
      armed = true;
      const error = await rejection(dw.put(rec('commit-blocked', 'second version')));
      expect(error).toBeInstanceOf(TransientBackendError);
      expect(error).toMatchObject({ code: 'TRANSIENT_BACKEND', retryable: true, component: 'sqlite' });
      expect((await dw.get('commit-blocked'))?.text).toBe('first version');
      locker!.exec('COMMIT');
      locker!.close();
      // Compensation could not remove its intent under the lock: recovery rolls it back after the TTL.
      await waitFor(
        async () => (await relational.listExpiredIntents!(Number.MAX_SAFE_INTEGER, 10)).length === 0,
        10_000,
        'the abandoned intent to be resolved',
      );
      await expectConverged(dw, relational, vector);
      expect((await dw.get('commit-blocked'))?.text).toBe('first version');
      expect(integrity(path)).toBe('ok');
      expect(unhandled).toEqual([]);
    },
  );
});

async function canMountTmpfs(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  const { dir, remove } = await tempDir('dualwrite-mount-probe-');
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    await run('umount', [dir]);
    return undefined;
  } catch (error) {
    return `mount -t tmpfs not permitted: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    await remove();
  }
}
const mountProblem = await canMountTmpfs();
if (mountProblem) console.warn(`[sqlite-faults] skipping disk-full tests: ${mountProblem}`);

describe.each(STRATEGY_NAMES)('SQLite disk full (%s)', (strategy) => {
  it.skipIf(mountProblem !== undefined)(
    'writes fail with BackendUnavailableError; accepted data intact; after freeing space writes continue',
    async () => {
      const { dir, remove } = await tempDir('dualwrite-full-');
      const mnt = join(dir, 'mnt');
      await mkdir(mnt);
      await run('mount', ['-t', 'tmpfs', '-o', 'size=10m', 'tmpfs', mnt]);
      let dw: DualWrite | undefined;
      try {
        const filler = join(mnt, 'filler');
        // 1 MiB usable: the database fills it long before the WAL reaches its 4 MB auto-checkpoint.
        await writeFile(filler, Buffer.alloc(9 * 1024 * 1024, 1));
        const path = join(mnt, 'source.db');
        const relational = new SqliteRelationalStore({ path });
        const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM });
        dw = await createDualWrite({
          relational,
          vector,
          embedder: new HashingEmbedder({ dimension: DIM }),
          strategy,
          delivery: FAST,
        });
        let drainErrors = 0;
        dw.events.on('drain-error', () => drainErrors++);
        const accepted: string[] = [];
        let full: Error | undefined;
        for (let i = 0; i < 500 && !full; i++) {
          try {
            await dw.put(rec(`r-${i}`, `${'x'.repeat(8_000)} ${i}`));
            accepted.push(`r-${i}`);
          } catch (error) {
            full = error as Error;
          }
        }
        expect(full, 'the disk filled up').toBeDefined();
        expect(full).toBeInstanceOf(BackendUnavailableError);
        expect(full).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true, component: 'sqlite' });
        expect(full!.message).toMatch(/SQLITE_FULL|disk is full/i);
        expect(accepted.length).toBeGreaterThan(10);
        // More writes keep failing typed; nothing accepted is damaged.
        await expect(dw.put(rec('while-full', 'y'.repeat(8_000)))).rejects.toBeInstanceOf(
          BackendUnavailableError,
        );
        expect(integrity(path)).toBe('ok');
        const rows = await relational.getRecords(accepted);
        for (const [i, id] of accepted.entries())
          expect(rows.get(id)?.text, id).toBe(`${'x'.repeat(8_000)} ${i}`);
        expect((await relational.getRecords(['while-full'])).size).toBe(0);
        await new Promise((r) => setTimeout(r, 300)); // the drainer keeps working against the full disk
        expect(integrity(path)).toBe('ok');

        // Free enough for the WAL to reach its auto-checkpoint (1,000 pages = 4 MB) and be copied into the
        // main file: until then every commit, including the drainer's, appends to the WAL. (Freeing less than
        // that lets writes continue only until the WAL has eaten the freed space again.)
        await rm(filler);
        await dw.put(rec('after-free', 'z'.repeat(8_000)));
        await dw.delete(accepted[0]!);
        await expectConverged(dw, relational, vector);
        expect(integrity(path)).toBe('ok');
        expect(await relational.countRecords()).toBe(accepted.length); // -1 deleted, +1 after-free
        expect(unhandled).toEqual([]);
        console.log(
          `[sqlite-full] ${strategy}: ${accepted.length} writes accepted before SQLITE_FULL, ${drainErrors} drain errors handled`,
        );
      } finally {
        await dw?.close({ drain: false, timeoutMs: 2_000 }).catch(() => {});
        await run('umount', ['-l', mnt]).catch(() => {});
        await remove();
      }
    },
  );
});
