/**
 * Several OS processes claim from one database file at once. Each child (test/fixtures/claim-worker.mjs)
 * runs the package's TypeScript source through `tsx` (`node --import tsx --conditions=source`), so no build
 * is needed. Leases are long (2 min), so an entry claimed twice would be a real double claim.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LineChild, spawnLineChild } from '@dualwrite/core/testing';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteRelationalStore } from '../src/index.js';
import { tempDir } from './helpers.js';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = fileURLToPath(new URL('./fixtures/claim-worker.mjs', import.meta.url));
const WORKERS = 3;
const ENTRIES = 300;

interface WorkerLine {
  type: 'ready' | 'claim' | 'ack' | 'done';
  owner: string;
  id?: string;
  token?: string;
  outcome?: string;
}

/** A claim worker process and its name. */
type Worker = LineChild<WorkerLine> & { owner: string };

function startWorker(path: string, owner: string): Worker {
  return Object.assign(spawnLineChild<WorkerLine>(WORKER, [path, owner], { cwd: PACKAGE_ROOT }), { owner });
}

describe('SqliteRelationalStore across processes', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let workers: Worker[] = [];

  beforeAll(async () => {
    ({ dir, remove } = await tempDir());
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill();
    await remove();
  });

  it(`${WORKERS} processes claim and ack ${ENTRIES} entries: each exactly once`, async () => {
    const path = join(dir, 'shared.db');
    const store = new SqliteRelationalStore({ path });
    await store.init();
    const ids = Array.from(
      { length: ENTRIES },
      (_, i) => `entry-${String(i).padStart(4, '0')}-${Math.random()}`,
    );
    const seededAt = Date.now() - 1_000;
    const versions = new Map<string, number>();
    await store.transaction(async (tx) => {
      for (const id of ids) {
        const version = await tx.nextVersion();
        versions.set(id, version);
        await tx.writeRecord({
          id,
          text: `text of ${id}`,
          embedding: [0.5, 0.25],
          metadata: { i: versions.size },
          version,
          deleted: false,
          contentHash: `h-${id}`,
          syncedVersion: null,
          now: seededAt,
        });
        await tx.enqueue(id, version, 'upsert', seededAt);
      }
    });

    workers = Array.from({ length: WORKERS }, (_, i) => startWorker(path, `worker-${i}`));
    const ready = Promise.all(workers.map((w) => w.ready));
    const earlyExit = Promise.race(workers.map((w) => w.exit.then(() => w)));
    const first = await Promise.race([ready.then(() => undefined), earlyExit]);
    if (first !== undefined) throw new Error(`worker ${first.owner} exited before ready:\n${first.stderr}`);
    for (const w of workers) w.child.stdin!.end('go\n');
    const codes = await Promise.all(workers.map((w) => w.exit));
    for (const [i, w] of workers.entries())
      expect(codes[i], `${w.owner} exit code; stderr:\n${w.stderr}`).toBe(0);

    const all = workers.flatMap((w) => w.lines);
    const claims = all.filter((l) => l.type === 'claim');
    const acks = all.filter((l) => l.type === 'ack');
    const claimedIds = claims.map((l) => l.id!);
    const duplicates = claimedIds.filter((id, i) => claimedIds.indexOf(id) !== i);
    expect(duplicates, 'no entry is claimed twice while its lease is live').toEqual([]);
    expect(new Set(claimedIds)).toEqual(new Set(ids));
    expect(new Set(claims.map((c) => c.token)).size, 'every lease has its own token').toBe(ENTRIES);
    expect(acks).toHaveLength(ENTRIES);
    expect(
      acks.filter((a) => a.outcome !== 'acked'),
      'every ack is acked',
    ).toEqual([]);
    const owners = new Set(claims.map((c) => c.owner));
    expect(owners.size, 'the processes really competed').toBeGreaterThanOrEqual(2);
    for (const w of workers) expect(w.lines.at(-1)?.type, `${w.owner} finished`).toBe('done');

    expect(await store.outboxStats(Date.now())).toEqual({
      depth: 0,
      inFlight: 0,
      deadLetters: 0,
      oldestPendingAt: null,
      deletes: 0,
      lowestPendingVersion: null,
    });
    const records = await store.getRecords(ids);
    for (const id of ids) expect(records.get(id)?.syncedVersion, id).toBe(versions.get(id));
    await store.close();

    const check = new Database(path, { readonly: true });
    try {
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      check.close();
    }
  });
});
