/**
 * A poison record — accepted by SQL, rejected by the vector store with a permanent error — is isolated to
 * dead letter without blocking the other records of its batch or later writes. Two poisons: one injected
 * (FaultyVectorStore.poisonId over real LanceDB: a permanent HTTP-400-like error), and one real: the Chroma
 * server rejects metadata keys starting with '#'. The Chroma adapter declares that rule, so the facade refuses
 * such a key at `put`; here the rule is hidden (as with a server rule an adapter does not know yet) to show
 * what delivery does with a real rejection.
 */
import { join } from 'node:path';
import { ChromaVectorStore } from '@dualwrite/chroma';
import {
  createDualWrite,
  type DualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  type VectorStore,
  verifyConsistency,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DIM, expectConverged, FAST, rec, tempDir } from './helpers.js';

const POISON = 'rec-042';

describe('a poison record in a batch of 100 (batch strategy)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  async function run(
    vector: VectorStore,
    poisonRecord: { id: string; text: string; metadata?: Record<string, string | number | boolean> },
    cure: (dw: DualWrite) => Promise<void>,
  ) {
    const { dir, remove } = await tempDir('dualwrite-poison-');
    cleanups.push(remove);
    const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
    const calls = new FaultyVectorStore(vector); // counts the calls
    const dw: DualWrite = await createDualWrite({
      relational,
      vector: calls,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: { name: 'batch', maxBatchSize: 100, maxDelayMs: 200 },
      delivery: FAST,
    });
    cleanups.push(() => dw.close({ drain: false, timeoutMs: 2_000 }));
    const records = Array.from({ length: 100 }, (_, i) => rec(`rec-${String(i).padStart(3, '0')}`));
    records[42] = {
      ...rec(poisonRecord.id, poisonRecord.text),
      ...(poisonRecord.metadata && { metadata: poisonRecord.metadata }),
    };
    const results = await dw.putMany(records);
    expect(
      results.every((r) => r.changed),
      'SQL accepts the whole batch',
    ).toBe(true);

    const flushed = await dw.flush({ timeoutMs: 20_000 });
    expect(flushed.deadLetters).toBe(1);
    expect((await dw.stats()).deadLetters).toBe(1);
    const status = await dw.syncStatus(POISON);
    expect(status).toMatchObject({ state: 'dead-lettered', attempts: 1 });
    const [dead] = await dw.listDeadLetters();
    expect(dead).toMatchObject({ recordId: POISON, state: 'dead' });
    const report = await verifyConsistency(relational, calls);
    expect(report).toMatchObject({ records: 100, lost: 1, stale: 0, orphans: 0 });
    expect(report.examples.lost).toEqual([POISON]);
    // Bisection: a failing batch of 100 is split in halves, about 2·log2(100) extra calls, not 100.
    const upserts = calls.callCount('upsert', { includeFailed: true });
    expect(upserts).toBeLessThanOrEqual(16);

    // Later writes are not blocked by the parked poison.
    await dw.putMany(Array.from({ length: 10 }, (_, i) => rec(`later-${i}`)));
    const later = await dw.flush({ timeoutMs: 20_000 });
    expect(later.deadLetters).toBe(1);
    expect((await verifyConsistency(relational, calls)).lost).toBe(1);

    await cure(dw);
    await expectConverged(dw, relational, calls);
    return { dead, upserts };
  }

  it('injected permanent error (LanceDB): dead-lettered at once, the other 99 delivered', async () => {
    const { dir, remove } = await tempDir('dualwrite-poison-lance-');
    cleanups.push(remove);
    const faulty = new FaultyVectorStore(
      await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM }),
    );
    faulty.poisonId(POISON);
    const { dead } = await run(faulty, rec(POISON, 'poison'), async (dw) => {
      faulty.curePoison();
      expect(await dw.requeueDeadLetters()).toBe(1);
    });
    expect(dead!.lastError).toMatch(/injected 400/);
  });

  it("real rejection (Chroma refuses the metadata key '#tag'): dead-lettered with the adapter's reason", async () => {
    const chroma = await ChromaVectorStore.open({
      url: inject('chromaUrl'),
      collection: `poison-${Date.now()}`,
      dimension: DIM,
    });
    // Hide the adapter's key rule, so the record reaches the server (see the module notes).
    const store = Object.assign(new FaultyVectorStore(chroma), { metadataKeyProblem: undefined });
    // The cure for a bad record is a corrected write (it replaces the dead entry); a requeue would fail again.
    const { dead } = await run(
      store,
      { id: POISON, text: 'poison', metadata: { '#tag': 'x' } },
      async (dw) => {
        await dw.put(rec(POISON, 'poison, corrected', { tag: 'x' }));
        expect((await dw.listDeadLetters()).length).toBe(0);
      },
    );
    expect(dead!.lastError).toMatch(/reserved by Chroma/);
  });
});
