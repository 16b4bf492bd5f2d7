/**
 * The index checks report drift only when the index lost something: a record whose index row is in flux — a
 * delete delivered and the id written again (still pending, or dead-lettered), a sync-2pc write between its
 * index write and its SQL commit — is not a lost write (break-it findings: each was reported as drift, and the
 * dead-lettered one ran a full repair at every check, for ever).
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  type DualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  type StrategyName,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

async function open(strategy: StrategyName, vector: FaultyVectorStore) {
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore(),
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy,
    delivery: {
      pollIntervalMs: 5,
      backoff: { baseMs: 5, maxMs: 20, factor: 2, jitter: 'none' },
      maxAttempts: 2,
    },
    driftCheck: false,
  });
  const drifts: string[] = [];
  dw.events.on('index-drift', (d) => drifts.push(d.reason));
  return { dw, drifts };
}

async function checkTimes(dw: DualWrite, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await dw.checkIndex();
}

describe('index checks on records whose index row is in flux', () => {
  it('a delete delivered, then the id written again and dead-lettered: no drift, however often checked', async () => {
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
    const { dw, drifts } = await open('async-queue', vector);
    try {
      await dw.put({ id: 'a', text: 'one' });
      await dw.flush();
      vector.latencyMs = 150;
      await dw.delete('a'); // its delivery is in flight for 150 ms
      await new Promise((r) => setTimeout(r, 50));
      await dw.put({ id: 'a', text: 'three' }); // written again before the delete is acknowledged
      while (!vector.calls.some((c) => c.op === 'delete' && !c.failed))
        await new Promise((r) => setTimeout(r, 5));
      vector.latencyMs = 0;
      vector.poisonId('a'); // and refused by the index: dead-lettered
      await dw.flush({ timeoutMs: 5_000 });
      expect((await dw.stats()).deadLetters).toBe(1);
      await checkTimes(dw, 3);
      expect(drifts).toEqual([]);
      expect((await dw.stats()).indexDrift).toBeNull();
    } finally {
      await dw.close({ drain: false });
    }
  });

  it('sync-2pc: a check between the index write and the SQL commit reports no drift', async () => {
    let during: (() => Promise<unknown>) | undefined;
    class Hooked extends FaultyVectorStore {
      override async delete(ids: readonly string[]) {
        await super.delete(ids);
        const hook = during;
        during = undefined;
        await hook?.();
      }
      override async upsert(...args: Parameters<FaultyVectorStore['upsert']>) {
        const report = await super.upsert(...args);
        const hook = during;
        during = undefined;
        await hook?.();
        return report;
      }
    }
    const vector = new Hooked(new MemoryVectorStore({ dimension: DIM }));
    const { dw, drifts } = await open('sync-2pc', vector);
    try {
      await dw.put({ id: 'a', text: 'one' });
      during = () => dw.checkIndex(); // a periodic check firing at that moment
      await dw.delete('a');
      during = () => dw.checkIndex();
      await dw.put({ id: 'b', text: 'two' });
      expect(drifts).toEqual([]);
    } finally {
      await dw.close({ drain: false });
    }
  });
});

describe('index checks on rows a restore brought back', () => {
  it('deleted rows back in the index are found by the count check although a dead letter is pending', async () => {
    const inner = new MemoryVectorStore({ dimension: DIM });
    const vector = new FaultyVectorStore(inner);
    const { dw, drifts } = await open('async-queue', vector);
    try {
      await dw.putMany(Array.from({ length: 10 }, (_, i) => ({ id: `r${i}`, text: `record ${i}` })));
      await dw.flush();
      const deleted = await inner.getRecords(['r0', 'r1']);
      await dw.deleteMany(['r0', 'r1']);
      vector.poisonId('bad');
      await dw.put({ id: 'bad', text: 'refused by the index' }); // a dead letter: a live record not in the index
      await dw.flush({ timeoutMs: 5_000 });
      expect((await dw.stats()).deadLetters).toBe(1);
      // An older copy of the index brings the two deleted rows back (9 live records, 10 rows).
      await inner.upsert([...deleted.values()]);
      await dw.checkIndex();
      expect(drifts.join('\n')).toMatch(/the index holds 10 rows but at most 9 records can be in it/);
      await dw.flush({ timeoutMs: 5_000 });
      expect((await inner.getVersions(['r0', 'r1'])).size, 'the repair removed them').toBe(0);
    } finally {
      await dw.close({ drain: false });
    }
  });
});
