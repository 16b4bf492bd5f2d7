/**
 * Another session holds the records' rows (`SELECT ... FOR UPDATE` in an open transaction) while delivery stores
 * the embeddings it computed back on them, on a real PostgreSQL. `lock_timeout` is set per transaction, so storing
 * an embedding runs in one: alone, the `UPDATE` waited for as long as the rows were held, each holding a pool
 * connection, and with the pool full the application's unrelated writes failed (`connect` timed out) — helper-68.
 * Now each try gives up after `lockTimeoutMs`, nothing is charged to the records, unrelated writes go on, and the
 * records are delivered once the rows are free.
 */
import { createDualWrite, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_URL, testSchema } from './helpers.js';

const DIM = 8;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('PostgreSQL: records locked by another session while delivery stores their embeddings', () => {
  it('waits at most lockTimeoutMs per try, charges nothing, and keeps the pool for other writes', async () => {
    const schema = testSchema();
    const relational = schema.store({ lockTimeoutMs: 300, poolSize: 2, connectTimeoutMs: 3_000 });
    const vector = new MemoryVectorStore({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
      driftCheck: false,
      delivery: { maxAttempts: 2, pollIntervalMs: 20 },
    });
    cleanups.push(async () => {
      await dw.close();
      await schema.drop();
    });
    const ids = Array.from({ length: 6 }, (_, i) => `r${i}`);
    dw.pause();
    // No embedding given: delivery embeds each text and stores the embedding back on its record row.
    for (const id of ids) await dw.put({ id, text: `text of ${id}` });

    const other = new pg.Client({ connectionString: DATABASE_URL });
    await other.connect();
    cleanups.unshift(() => other.end());
    await other.query('BEGIN');
    await other.query(`SELECT id FROM "${schema.schema}".dw_records FOR UPDATE`);
    dw.resume();
    await new Promise((r) => setTimeout(r, 1_500));
    // The pool (2 connections) is not held by updates waiting on the rows: an unrelated write goes through.
    await dw.put({
      id: 'unrelated',
      text: 'written while the rows are held',
      embedding: Array(DIM).fill(0.5),
    });
    const during = await Promise.all(ids.map((id) => dw.syncStatus(id)));
    await other.query('ROLLBACK');

    for (const status of during) expect(status).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await dw.flush({ timeoutMs: 20_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
    for (const id of [...ids, 'unrelated'])
      expect(await dw.syncStatus(id)).toMatchObject({ state: 'synced' });
    expect(await verifyConsistency(relational, vector)).toMatchObject({ lost: 0, stale: 0, mismatched: 0 });
  });
});
