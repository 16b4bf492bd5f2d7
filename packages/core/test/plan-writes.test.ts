/**
 * `planWrites` (the planner a store's one-batch `writeChanges` uses) decides exactly what the transaction
 * path (`writeChangesWithOutbox`) does: seeded random batches — puts with and without embeddings, repeated
 * content, deletes, the same id several times in one batch — applied both ways to two reference stores must
 * give the same results and leave the same records and outbox entries.
 */

import { describe, expect, it } from 'vitest';
import { readOutboxEntry } from '../src/contracts/relational-operations.js';
import { type Change, planWrites, type RelationalStore, type StoredRecord } from '../src/index.js';
import { MemoryRelationalStore } from '../src/testing/index.js';
import { rng } from '../src/testing/relational-suite/model.js';
import { writeChangesWithOutbox } from '../src/write/plan-change.js';

/** Applies a batch as a batch-writing store would: read under lock, plan, draw the versions, write the rows. */
async function writeAsBatch(store: RelationalStore, changes: readonly Change[], now: number) {
  return store.transaction(async (tx) => {
    const ids = [...new Set(changes.map((c) => (c.op === 'put' ? c.record.id : c.id)))].sort();
    const current = new Map<string, StoredRecord>();
    for (const id of ids) {
      const row = await tx.getRecord(id);
      if (row) current.set(id, row);
    }
    const plan = planWrites(changes, current, now);
    const versions: number[] = [];
    for (let i = 0; i < plan.rows.length; i++) versions.push(await tx.nextVersion());
    for (const [i, { next, op }] of plan.rows.entries()) {
      await tx.writeRecord({ ...next, version: versions[i]! });
      await tx.enqueue(next.id, versions[i]!, op, now);
    }
    return plan.results(versions);
  });
}

async function snapshot(store: RelationalStore, ids: readonly string[]) {
  const records = await store.getRecords(ids, { includeDeleted: true });
  const entries = await Promise.all(ids.map((id) => readOutboxEntry(store, id)));
  return ids.map((id, i) => ({ id, record: records.get(id), entry: entries[i] }));
}

describe('planWrites', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`plans like the transaction path (seed ${seed}, 60 batches)`, async () => {
      const { next } = rng(seed);
      const [viaTx, viaPlan] = [new MemoryRelationalStore(), new MemoryRelationalStore()];
      const ids = ['a', 'b', 'c', 'd', 'e'];
      const texts = ['one', 'two', 'three'];
      for (let batch = 0; batch < 60; batch++) {
        const changes: Change[] = Array.from({ length: 1 + Math.floor(next() * 6) }, () => {
          const id = ids[Math.floor(next() * ids.length)]!;
          if (next() < 0.25) return { op: 'delete', id };
          const embedding = next() < 0.5 ? undefined : [next() < 0.5 ? 0.5 : 0.25, 1];
          const metadata = next() < 0.5 ? {} : { k: next() < 0.5 ? 'x' : 'y' };
          return {
            op: 'put',
            record: { id, text: texts[Math.floor(next() * texts.length)]!, metadata, embedding },
          } as Change;
        });
        const now = 1_000 + batch;
        const a = await viaTx.transaction((tx) => writeChangesWithOutbox(tx, changes, now));
        const b = await writeAsBatch(viaPlan, changes, now);
        expect(b, `batch ${batch}: ${JSON.stringify(changes)}`).toEqual(a);
        expect(await snapshot(viaPlan, ids), `batch ${batch}`).toEqual(await snapshot(viaTx, ids));
      }
    });
  }
});
