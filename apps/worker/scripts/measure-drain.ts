/**
 * Drain throughput of 1..N `dualwrite-worker` processes on one PostgreSQL outbox into one LanceDB directory.
 * Starts the workers first (idle), commits N changes in one transaction (one NOTIFY wakes them all), and
 * times until the outbox is empty.
 *
 *   node --import tsx --conditions=source scripts/measure-drain.ts [changes=5000] [workers=1,2,4] [batch=100]
 *
 * Needs PostgreSQL (DUALWRITE_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDualWrite, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import pg from 'pg';

const DATABASE_URL = process.env.DUALWRITE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const [changes = 5000, batch = 100] = [Number(process.argv[2] ?? 5000), Number(process.argv[4] ?? 100)];
const counts = (process.argv[3] ?? '1,2,4').split(',').map(Number);
const DIMENSION = 64;

async function run(workers: number): Promise<void> {
  const schema = `dw_bench_${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'dw-measure-'));
  const relational = new PostgresRelationalStore({ connectionString: DATABASE_URL, schema });
  const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lancedb'), dimension: DIMENSION });
  const embedder = new HashingEmbedder({ dimension: DIMENSION });
  const dw = await createDualWrite({ relational, vector, embedder, strategy: 'batch' });
  dw.pause();
  const children: ChildProcess[] = [];
  try {
    const started: Promise<void>[] = [];
    for (let i = 0; i < workers; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', CLI], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          ...process.env,
          DATABASE_URL,
          DUALWRITE_PG_SCHEMA: schema,
          DUALWRITE_DATA_DIR: dir,
          DUALWRITE_EMBEDDING_DIMENSION: String(DIMENSION),
          DUALWRITE_STRATEGY: 'batch',
          DUALWRITE_BATCH_SIZE: String(batch),
          DUALWRITE_POLL_INTERVAL_MS: '1000',
          LOG_LEVEL: 'warn',
          DUALWRITE_STATS_INTERVAL_MS: '0',
        },
      });
      children.push(child);
      started.push(
        new Promise((resolve, reject) => {
          // With LOG_LEVEL=warn the worker prints nothing when it starts: give it time to connect.
          child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
          setTimeout(resolve, 4_000);
        }),
      );
    }
    await Promise.all(started);
    const records = Array.from({ length: changes }, (_, i) => ({
      id: `doc-${i}`,
      text: `document ${i}`,
      embedding: embedder.embedOne(`document ${i}`),
      metadata: { i },
    }));
    await dw.transaction(async (uow) => {
      for (const record of records) await uow.put(record);
    }); // one transaction, one NOTIFY
    const t0 = performance.now();
    for (;;) {
      const { depth, inFlight } = await relational.outboxStats(Date.now());
      if (depth === 0 && inFlight === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    const report = await verifyConsistency(relational, vector);
    console.log(
      `${workers} worker(s): ${changes} changes in ${seconds.toFixed(2)} s = ${Math.round(changes / seconds)} changes/s` +
        ` (lost ${report.lost}, stale ${report.stale}, other content ${report.mismatched}, orphans ${report.orphans})`,
    );
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null)))),
    );
    await dw.close({ drain: false });
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    await rm(dir, { recursive: true, force: true });
  }
}

for (const n of counts) await run(n);
process.exit(0);
