/**
 * The server goes away under a running application, on a private MariaDB (durable commits): a clean restart,
 * a crash (`SIGKILL`, recovered at start) and every client connection `KILL`ed a few times, while one process
 * writes and delivers through each strategy. Expected: no unhandled error; a write while the server is away
 * fails typed and retryable (`BackendUnavailableError` / `TransientBackendError`) and leaves nothing half-done;
 * writes and deliveries resume once it is back; every acknowledged write reaches the index at its version or a
 * later one, nothing is dead-lettered, and the index equals the source of truth.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BackendUnavailableError,
  createDualWrite,
  HashingEmbedder,
  TransientBackendError,
  verifyConsistency,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { type PrivateMariadb, startPrivateMariadb } from './private-mariadb.js';

const DIM = 16;
const IDS = 30;

let server: PrivateMariadb | undefined;

beforeAll(async () => {
  // Durable commits (the helper's default flushes the log once a second, which a crash may lose).
  server = await startPrivateMariadb(['--innodb-flush-log-at-trx-commit=1']);
}, 120_000);

afterAll(async () => {
  await server?.destroy();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** KILLs every client connection but the caller's, `rounds` times, `everyMs` apart; resolves to how many. */
async function killConnections(url: string, rounds: number, everyMs: number): Promise<number> {
  const admin = await createConnection({ uri: url });
  let killed = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const [rows] = await admin.query(
        "SELECT id FROM information_schema.PROCESSLIST WHERE id <> CONNECTION_ID() AND command <> 'Daemon'",
      );
      for (const { id } of rows as { id: number }[])
        killed += await admin.query(`KILL ${Number(id)}`).then(
          () => 1,
          () => 0, // ended meanwhile
        );
      await sleep(everyMs);
    }
  } finally {
    await admin.end();
  }
  return killed;
}

describe.each(['async-queue', 'batch', 'sync-2pc'] as const)(
  'MariaDB restarted and crashed under %s',
  (strategy) => {
    it('writes fail typed while it is away, resume after, and every acknowledged write reaches the index', async () => {
      const url = server!.url;
      const database = `restart_${strategy.replace('-', '_')}`;
      const admin = await createConnection({ uri: url });
      await admin.query(`CREATE DATABASE ${database}`);
      await admin.end();
      const dir = await mkdtemp(join(tmpdir(), 'dw-mysql-restart-'));
      const relational = new MysqlRelationalStore({ connectionString: `${url}/${database}` });
      const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM });
      const dw = await createDualWrite({
        relational,
        vector,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy,
        delivery: { pollIntervalMs: 50 },
      });
      const acked = new Map<string, number>();
      const ackedAt: number[] = [];
      const failures: string[] = [];
      const untyped: unknown[] = [];
      let writing = true;
      const writer = (async () => {
        for (let n = 0; writing; n++) {
          const id = `id-${n % IDS}`;
          try {
            const { version } = await dw.put({ id, text: `write ${n}` });
            if (version !== null) acked.set(id, version); // every text differs: never a no-op
            ackedAt.push(Date.now());
          } catch (error) {
            if (error instanceof BackendUnavailableError || error instanceof TransientBackendError)
              failures.push(error.name);
            else untyped.push(error);
            await sleep(20);
          }
        }
      })();
      try {
        await sleep(700);
        const restartDownMs = await server!.restart('SIGTERM', 500);
        const backAfterRestart = Date.now();
        await sleep(700);
        const crashDownMs = await server!.restart('SIGKILL', 300);
        const backAfterCrash = Date.now();
        await sleep(700);
        const killed = await killConnections(url, 5, 200);
        await sleep(500);
        writing = false;
        await writer;

        expect(untyped, 'every failed write is a typed, retryable error').toEqual([]);
        expect(failures.length, 'the writer saw the server go away').toBeGreaterThan(0);
        expect(killed, 'connections were killed').toBeGreaterThan(0);
        for (const [what, since] of [
          ['restart', backAfterRestart],
          ['crash', backAfterCrash],
        ] as const)
          expect(
            ackedAt.some((t) => t > since),
            `writes acknowledged again after the ${what}`,
          ).toBe(true);

        expect(await dw.flush({ timeoutMs: 30_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
        for (const [id, version] of acked) {
          const status = await dw.syncStatus(id);
          expect(status.state, id).toBe('synced');
          expect(status.state === 'synced' && status.version >= version, `${id} at ${version} or later`).toBe(
            true,
          );
        }
        const report = await verifyConsistency(relational, vector, { content: true });
        expect(report, JSON.stringify(report.examples)).toMatchObject({
          records: acked.size,
          lost: 0,
          stale: 0,
          mismatched: 0,
          orphans: 0,
          duplicates: 0,
        });
        console.log(
          `[mysql-restart] ${strategy}: ${ackedAt.length} writes acknowledged, ${failures.length} failed typed, ` +
            `${killed} connections killed, ${acked.size} ids synced; server away ${restartDownMs} ms (restart), ` +
            `${crashDownMs} ms (crash)`,
        );
      } finally {
        writing = false;
        await writer;
        await dw.close({ drain: false, timeoutMs: 5_000 });
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);
