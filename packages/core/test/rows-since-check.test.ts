/**
 * A source of truth restored from a backup taken since the previous check is found by the next one, whatever
 * records the lost states belong to and whatever the source's sequence says: the check reads the rows the index
 * took since the version the (restored) source recorded, and finds them ahead of their records.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, INDEX_ROWS_CHECKED_KEY } from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 4;

const records = (prefix: string, n: number, text: string) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, text, embedding: [1, i + 1, 0, 0] }));

async function open(source: MemoryRelationalData, index: MemoryVectorData) {
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore({ data: source }),
    vector: new MemoryVectorStore({ dimension: DIM, data: index }),
    strategy: 'async-queue',
    delivery: { pollIntervalMs: 5 },
    driftCheck: false,
  });
  const drifts: string[] = [];
  dw.events.on('index-drift', (d) => drifts.push(d.reason));
  return { dw, drifts };
}

describe('rows the index took since the previous check', () => {
  it.each([
    { lost: 'updates of older records', ids: ['r0', 'r1', 'r2'], found: /3 of the 4 rows it took since/ },
    { lost: 'a record created after the backup, and one deleted', ids: ['n0'], found: /"n0" v\d+/ },
  ])(
    'finds a source restored from a backup taken since the previous check: $lost',
    async ({ lost, ids, found }) => {
      const source = new MemoryRelationalData();
      const index = new MemoryVectorData();
      const { dw, drifts } = await open(source, index);
      try {
        await dw.putMany(records('r', 10, 'first'));
        await dw.putMany(records('o', 40, 'other')); // the 32 most recent acknowledgements
        await dw.flush();
        // Two checks: the look-up of recent acknowledgements starts above the older records from the second on.
        for (let check = 0; check < 2; check++) expect(await dw.checkIndex()).toBeNull();
        const backup = source.snapshot(); // after the check: the checkpoint cannot tell
        if (lost === 'updates of older records') await dw.putMany(records('r', 3, 'second'));
        else {
          await dw.put({ id: 'n0', text: 'new', embedding: [0, 1, 1, 0] });
          await dw.delete('r9'); // the counts stay
        }
        await dw.flush();
        source.restore(backup, { keepSequence: true }); // as a process keeping its own high-water mark
        await dw.put({ id: 'late', text: 'written after the restore', embedding: [0, 0, 1, 1] });
        await dw.flush();
        await dw.checkIndex();
        expect(drifts.join('\n')).toMatch(found);
        expect(drifts.join('\n')).toMatch(/the source went back in time/);

        await dw.flush({ timeoutMs: 5_000 });
        const vector = new MemoryVectorStore({ dimension: DIM, data: index });
        const rows = await vector.getRecords([...ids, 'r9', 'late']);
        for (const id of ids.filter((id) => id.startsWith('r')))
          expect(rows.get(id)?.text, `${id}: the restored state`).toBe('first');
        expect(rows.has('n0'), 'a record the source lost is gone from the index').toBe(false);
        expect(rows.get('r9')?.text, 'a delete the source lost is undone').toBe('first');
        expect(rows.get('late')?.text).toBe('written after the restore');
        const reported = drifts.length;
        await dw.checkIndex();
        expect(drifts, 'the repaired index passes the next check').toHaveLength(reported);
      } finally {
        await dw.close({ drain: false });
      }
    },
  );

  it('records how far it compared; a check reads only the rows taken since, in windows of at most 1,000', async () => {
    const source = new MemoryRelationalData();
    const index = new MemoryVectorData();
    const vector = new MemoryVectorStore({ dimension: DIM, data: index });
    const reads: string[] = [];
    const read = vector.versionsInRange.bind(vector);
    vector.versionsInRange = async (range) => {
      const rows = await read(range);
      reads.push(`${range.above}..${range.atMost ?? ''}:${rows.length}`);
      return rows;
    };
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore({ data: source }),
      vector,
      strategy: 'async-queue',
      delivery: { pollIntervalMs: 5 },
      driftCheck: false,
    });
    const meta = new MemoryRelationalStore({ data: source });
    try {
      await dw.putMany(records('a', 2_500, 'first'));
      await dw.flush();
      reads.length = 0;
      expect(await dw.checkIndex()).toBeNull();
      expect(await meta.getMeta(INDEX_ROWS_CHECKED_KEY)).toBe('2500');
      expect(reads.every((r) => Number(r.split(':')[1]) <= 1_000)).toBe(true);
      reads.length = 0;
      await dw.putMany(records('b', 5, 'later'));
      await dw.flush();
      expect(await dw.checkIndex()).toBeNull();
      expect(reads, 'one read of the five rows taken since').toEqual(['2500..:5']);
      expect(await meta.getMeta(INDEX_ROWS_CHECKED_KEY)).toBe('2505');
    } finally {
      await dw.close({ drain: false });
    }
  });
});
