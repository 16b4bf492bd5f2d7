/**
 * Index rows changed behind dualwrite's back — edited in place at the same version, removed with a foreign row
 * added so the counts stay equal — are found by the rolling sweep within `records / sweepPage` checks and repaired;
 * the other checks cannot see them (before: found only by a reconcile).
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite } from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 4;
const record = (i: number, text = `text ${i}`) => ({ id: `r${i}`, text, embedding: [1, i + 1, 0, 0] });

async function started(sweepPage: number) {
  const index = new MemoryVectorData();
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore({ data: new MemoryRelationalData() }),
    vector: new MemoryVectorStore({ dimension: DIM, data: index }),
    strategy: 'async-queue',
    delivery: { pollIntervalMs: 5 },
    driftCheck: { intervalMs: 3_600_000, sweepPage }, // checks run when asked
  });
  const drifts: string[] = [];
  dw.events.on('index-drift', (d) => drifts.push(d.reason));
  await dw.putMany(Array.from({ length: 60 }, (_, i) => record(i)));
  // The 32 most recent acknowledgements, looked up by every check: not the records the tests change.
  await dw.putMany(Array.from({ length: 40 }, (_, i) => ({ ...record(i), id: `o${i}` })));
  await dw.flush();
  // Two checks: the restore checks have compared what there is.
  for (let check = 0; check < 2; check++) expect(await dw.checkIndex()).toBeNull();
  return { dw, drifts, other: new MemoryVectorStore({ dimension: DIM, data: index }) };
}

/** Checks until one reports a drift (`index-drift`); how many ran. */
async function checksUntilDrift(
  { dw, drifts }: Pick<Awaited<ReturnType<typeof started>>, 'dw' | 'drifts'>,
  most: number,
) {
  const before = drifts.length;
  for (let check = 1; check <= most; check++) {
    await dw.checkIndex();
    if (drifts.length > before) return check;
  }
  return Number.POSITIVE_INFINITY;
}

describe('the rolling sweep', () => {
  it.each([
    {
      change: 'a row edited in place at its version (text)',
      apply: async (other: MemoryVectorStore) => {
        const row = (await other.getRecords(['r41'])).get('r41')!;
        await other.upsert([{ ...row, text: 'edited by another tool' }]);
      },
      found: /a sweep of the index found 1 row differing .*1 with other content.*"r41" mismatched/,
    },
    {
      change: 'a row removed and a foreign one added (the row count stays)',
      apply: async (other: MemoryVectorStore) => {
        await other.delete(['r5']);
        await other.upsert([
          { id: 'ghost', text: 'not ours', embedding: [0, 0, 0, 1], metadata: {}, version: 1 },
        ]);
      },
      found: /a sweep of the index found \d+ rows? differing .*("r5" missing|"ghost" orphan)/,
    },
  ])(
    'finds $change within records / sweepPage checks, and the repair undoes it',
    async ({ apply, found }) => {
      const started20 = await started(20);
      const { dw, drifts, other } = started20;
      try {
        await apply(other);
        // 100 records and 100 rows, 20 a check: five checks cover both sides, wherever the cursors stand.
        expect(await checksUntilDrift(started20, 6)).toBeLessThanOrEqual(6);
        expect(drifts.join('\n')).toMatch(found);
        await dw.flush({ timeoutMs: 5_000 });
        const rows = await other.getRecords(['r41', 'r5', 'ghost']);
        expect(rows.get('r41')?.text).toBe('text 41');
        expect(rows.get('r5')?.text).toBe('text 5');
        expect(rows.has('ghost')).toBe(false);
        expect(
          await checksUntilDrift(started20, 6),
          'a full round of the sweep finds nothing after the repair',
        ).toBe(Number.POSITIVE_INFINITY);
        expect(drifts).toHaveLength(1);
      } finally {
        await dw.close({ drain: false });
      }
    },
  );

  it('raises no alarm while two processes rewrite and delete a few hot ids and both sweep all the time', async () => {
    const [source, index] = [new MemoryRelationalData(), new MemoryVectorData()];
    const processes = await Promise.all(
      ['async-queue', 'batch'].map(async (strategy) => {
        const dw = await createDualWrite({
          relational: new MemoryRelationalStore({ data: source }),
          vector: new MemoryVectorStore({ dimension: DIM, data: index }),
          strategy: strategy as 'async-queue' | 'batch',
          delivery: { pollIntervalMs: 2 },
          driftCheck: { intervalMs: 3_600_000, sweepPage: 50 },
        });
        const drifts: string[] = [];
        dw.events.on('index-drift', (d) => drifts.push(d.reason));
        return { dw, drifts };
      }),
    );
    try {
      let writing = processes.length;
      let checks = 0;
      await Promise.all([
        ...processes.map(async ({ dw }, p) => {
          for (let n = 0; n < 400; n++) {
            const i = (n * 7 + p) % 20;
            if (n % 5 === 4) await dw.delete(`r${i}`);
            else await dw.put(record(i, `process ${p}, write ${n}`));
            if (n % 10 === 0) await new Promise((r) => setTimeout(r, 1));
          }
          writing--;
        }),
        ...processes.map(async ({ dw }) => {
          while (writing > 0) {
            await dw.checkIndex();
            checks++;
          }
        }),
      ]);
      expect(checks, 'checks ran while the writes did').toBeGreaterThan(10);
      expect(processes.flatMap((p) => p.drifts)).toEqual([]);
    } finally {
      for (const { dw } of processes) await dw.close({ drain: false });
    }
  });

  it('is off with sweepPage 0: an edit in place is found by no check', async () => {
    const off = await started(0);
    const { dw, other } = off;
    try {
      const row = (await other.getRecords(['r41'])).get('r41')!;
      await other.upsert([{ ...row, text: 'edited by another tool' }]);
      expect(await checksUntilDrift(off, 6)).toBe(Number.POSITIVE_INFINITY);
    } finally {
      await dw.close({ drain: false });
    }
  });
});
