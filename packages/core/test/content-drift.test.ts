/**
 * An index row edited behind dualwrite's back keeps its version: checks that compare only ids and versions
 * call such an index consistent. `verifyConsistency` and `reconcile` read the rows back (`getRecords`) and
 * compare text, metadata and vector with the source of truth; reconcile repairs what differs.
 */
import { describe, expect, it } from 'vitest';
import type { VectorStore } from '../src/contracts/vector-store.js';
import { createDualWrite, HashingEmbedder, VectorStoreWrapper, verifyConsistency } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorData, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** The memory store without `getRecords`: an adapter that cannot read its rows back. */
class WithoutRows extends VectorStoreWrapper {
  constructor(inner: VectorStore) {
    super(inner);
    Object.defineProperty(this, 'getRecords', { value: undefined });
  }
}

/** A facade over memory stores whose index rows the test can edit directly (`data.rows`). */
async function indexed() {
  const data = new MemoryVectorData();
  const relational = new MemoryRelationalStore();
  const vector = new MemoryVectorStore({ dimension: DIM, data });
  const dw = await createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'batch',
    driftCheck: false,
    closeStores: false,
  });
  await dw.putMany([
    { id: 'text', text: 'alpha', metadata: { level: 'method' } },
    { id: 'meta', text: 'beta', metadata: { level: 'method' } },
    { id: 'vec', text: 'gamma', embedding: [1, 2, 3, 4, 5, 6, 7, 8], metadata: {} },
    { id: 'same', text: 'delta', metadata: { n: 1 } },
  ]);
  await dw.flush();
  const rows = data.rows;
  rows.get('text')!.text = 'tampered';
  rows.get('meta')!.metadata = { level: 'evil' };
  rows.get('vec')!.embedding = [1, 2, 3, 4, 5, 6, 7, 9];
  return { dw, relational, vector, rows };
}

describe('content drift: rows edited in the index at their current version', () => {
  it('verifyConsistency reports each edited row as mismatched, and only those', async () => {
    const { dw, relational, vector } = await indexed();
    const report = await verifyConsistency(relational, vector);
    expect(report).toMatchObject({ lost: 0, stale: 0, orphans: 0, mismatched: 3, contentChecked: true });
    expect(report.examples.mismatched.sort()).toEqual(['meta', 'text', 'vec']);
    const shallow = await verifyConsistency(relational, vector, { content: false });
    expect(shallow).toMatchObject({ mismatched: 0, contentChecked: false });
    await dw.close();
  });

  it('reconcile counts them in a dry run and re-delivers them otherwise, restoring the rows', async () => {
    const { dw, relational, vector, rows } = await indexed();
    const dry = await dw.reconcile({ dryRun: true });
    expect(dry).toMatchObject({ missing: 0, stale: 0, orphans: 0, mismatched: 3, repairsEnqueued: 0 });
    const report = await dw.reconcile();
    expect(report).toMatchObject({ mismatched: 3, repairsEnqueued: 3 });
    await dw.flush();
    expect(rows.get('text')!.text).toBe('alpha');
    expect(rows.get('meta')!.metadata).toEqual({ level: 'method' });
    expect(rows.get('vec')!.embedding).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await verifyConsistency(relational, vector)).toMatchObject({ mismatched: 0 });
    expect(await dw.reconcile({ dryRun: true })).toMatchObject({ mismatched: 0 });
    await dw.close();
  });

  it('a store that cannot read rows back is checked by versions only, and says so', async () => {
    const { dw, relational, vector } = await indexed();
    const blind = new WithoutRows(vector);
    expect(blind.getRecords).toBeUndefined();
    const report = await verifyConsistency(relational, blind);
    expect(report).toMatchObject({ mismatched: 0, contentChecked: false, lost: 0, stale: 0 });
    expect(await dw.reconcile({ dryRun: true, content: false })).toMatchObject({
      mismatched: 0,
      contentChecked: false,
    });
    await dw.close();
  });
});

/** Its `getRecords` throws what a row no comparison expected made the checks throw (a `TypeError`), once `failing`. */
class ThrowsOnRead extends VectorStoreWrapper {
  failing = false;
  constructor(inner: VectorStore) {
    super(inner);
    const getRecords = inner.getRecords!.bind(inner);
    Object.assign(this, {
      getRecords: (ids: readonly string[]) => {
        if (this.failing) throw new TypeError('Cannot convert undefined or null to object');
        return getRecords(ids);
      },
    });
  }
}

// helper-75: an index row that made every periodic check throw failed each check without a word, and no check
// found anything else in the index either.
it('a periodic check that fails says so (drain-error), every time', async () => {
  const vector = new ThrowsOnRead(new MemoryVectorStore({ dimension: DIM }));
  const dw = await createDualWrite({
    relational: new MemoryRelationalStore(),
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'batch',
    driftCheck: { intervalMs: 20 },
  });
  try {
    await dw.putMany([{ id: 'a', text: 'alpha' }]);
    await dw.flush();
    const errors: string[] = [];
    dw.events.on('drain-error', ({ error }) => errors.push(error));
    vector.failing = true;
    const deadline = Date.now() + 5_000;
    while (errors.filter((e) => e.startsWith('index check failed')).length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(errors.filter((e) => e.startsWith('index check failed')).length).toBeGreaterThanOrEqual(2);
    expect(errors.find((e) => e.startsWith('index check failed'))).toMatch(/Cannot convert undefined/);
  } finally {
    vector.failing = false;
    await dw.close();
  }
});
