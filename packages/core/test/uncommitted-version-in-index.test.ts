/**
 * A sync-2pc write whose vector call landed but answered with an error, and whose compensation could not restore
 * the index (the store still failing), leaves the index one version ahead of the record: a version this source
 * drew and never committed. The repair's fenced delivery rewrites the record above it — and must not raise the
 * "restored from a backup?" alarm and a full repair of the index (helper-57: it did, on SQLite with injected
 * vector faults).
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  HashingEmbedder,
  TransientBackendError,
  type VectorRecord,
  verifyConsistency,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** Reference index whose next upsert lands and then fails, and whose upserts fail while `down`. */
class LandsThenFails extends MemoryVectorStore {
  landThenFail = false;
  down = false;
  override async upsert(records: readonly VectorRecord[], options?: { ifNewer?: boolean }) {
    if (this.down) throw new TransientBackendError('index unavailable');
    const result = await super.upsert(records, options);
    if (this.landThenFail) {
      this.landThenFail = false;
      this.down = true; // the compensation's restore fails too
      throw new TransientBackendError('the answer was lost');
    }
    return result;
  }
}

describe('a version sync-2pc drew and never committed, left in the index', () => {
  it('is repaired for its id alone, without a version-regression alarm or a full repair', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new LandsThenFails({ dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'sync-2pc',
      delivery: { pollIntervalMs: 5, backoff: { baseMs: 5, maxMs: 20, factor: 2, jitter: 'full' } },
      driftCheck: { intervalMs: 100 },
    });
    const alarms: string[] = [];
    dw.events.on('version-regression', (e) => alarms.push(`version-regression ${JSON.stringify(e)}`));
    dw.events.on('index-drift', (e) => alarms.push(`index-drift ${e.reason}`));
    dw.events.on('index-repaired', () => alarms.push('index-repaired'));
    for (let i = 0; i < 5; i++) await dw.put({ id: `doc-${i}`, text: `document ${i}` });
    const committed = await dw.get('doc-0');

    vector.landThenFail = true;
    await expect(dw.put({ id: 'doc-0', text: 'never committed' })).rejects.toThrow(/answer was lost/);
    const ahead = (await vector.getVersions(['doc-0'])).get('doc-0')!;
    expect(ahead, 'the uncommitted version landed').toBeGreaterThan(committed!.version);
    vector.down = false;

    await dw.flush({ timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 300)); // a few periodic checks
    const record = await dw.get('doc-0');
    expect(record).toMatchObject({ text: 'document 0' });
    expect(record!.version, 'rewritten above the version the index held').toBeGreaterThan(ahead);
    expect((await vector.getVersions(['doc-0'])).get('doc-0')).toBe(record!.version);
    expect(await verifyConsistency(relational, vector)).toMatchObject({ lost: 0, stale: 0, mismatched: 0 });
    // (Was: "the index held version … above the source's: the source went back in time (restored from a
    // backup?)", then a full repair of every record.)
    expect(alarms).toEqual([]);
    await dw.close();
  });
});
