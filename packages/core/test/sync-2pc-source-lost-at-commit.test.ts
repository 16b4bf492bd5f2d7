/**
 * A sync-2pc write whose vector write landed and whose commit then failed because the source of truth went away
 * (the server restarted or crashed between the two): the compensation cannot read or write the source either.
 * Before, its intent was left to recovery after `intentTtlMs`, and meanwhile `flush()` resolved with nothing
 * pending while the index held the failed write — an orphan for a new id (found by MariaDB's server-restart test
 * with the suites running two at a time), a version the source never committed for an existing one. This
 * process knows its call is over: it rolls the write back as soon as the source answers, and `flush()` waits.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  createDualWrite,
  type DualWrite,
  type RelationalTx,
  type VectorRecord,
  verifyConsistency,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;
const OUTAGE_MS = 300;

/**
 * Reference source of truth that refuses every transaction and read while `down`; `downAfterNextTransaction`: goes
 * away for {@link OUTAGE_MS} right after the next transaction commits.
 */
class Unreachable extends MemoryRelationalStore {
  down = false;
  downAfterNextTransaction = false;
  #refuse(): void {
    if (this.down) throw new BackendUnavailableError('source unreachable', { component: 'test' });
  }
  goAway(): void {
    this.down = true;
    setTimeout(() => {
      this.down = false;
    }, OUTAGE_MS);
  }
  override async transaction<T>(fn: (tx: RelationalTx<unknown>) => Promise<T>): Promise<T> {
    this.#refuse();
    const result = await super.transaction(fn);
    if (this.downAfterNextTransaction) {
      this.downAfterNextTransaction = false;
      this.goAway();
    }
    return result;
  }
  override async getRecords(...args: Parameters<MemoryRelationalStore['getRecords']>) {
    this.#refuse();
    return super.getRecords(...args);
  }
  override async enqueueRepairs(ids: readonly string[], now: number): Promise<number> {
    this.#refuse();
    return super.enqueueRepairs(ids, now);
  }
}

/** Reference index after whose next upsert the source goes away for {@link OUTAGE_MS}. */
class SourceLostAfterWrite extends MemoryVectorStore {
  armed = false;
  constructor(private readonly source: Unreachable) {
    super({ dimension: DIM });
  }
  override async upsert(records: readonly VectorRecord[], options?: { ifNewer?: boolean }) {
    const result = await super.upsert(records, options);
    if (this.armed) {
      this.armed = false;
      this.source.goAway();
    }
    return result;
  }
}

async function open(): Promise<{ dw: DualWrite; source: Unreachable; index: SourceLostAfterWrite }> {
  const source = new Unreachable();
  const index = new SourceLostAfterWrite(source);
  const dw = await createDualWrite({
    relational: source,
    vector: index,
    strategy: 'sync-2pc',
    // Recovery of abandoned intents would come far too late to hide the fault.
    delivery: { pollIntervalMs: 10, intentTtlMs: 60_000 },
  });
  return { dw, source, index };
}

describe('sync-2pc: the source goes away between the vector write and the commit', () => {
  it('a new id: flush waits until the write is rolled back, and the index holds no orphan', async () => {
    const { dw, source, index } = await open();
    try {
      await dw.put({ id: 'kept', text: 'kept', embedding: [1, 0, 0, 0] });
      index.armed = true;
      await expect(dw.put({ id: 'never', text: 'never', embedding: [0, 1, 0, 0] })).rejects.toBeInstanceOf(
        BackendUnavailableError,
      );
      expect((await index.getVersions(['never'])).has('never'), 'the failed write landed in the index').toBe(
        true,
      );
      await new Promise((r) => setTimeout(r, OUTAGE_MS + 50)); // the source is back
      expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
      expect(await verifyConsistency(source, index)).toMatchObject({
        records: 1,
        vectors: 1,
        orphans: 0,
        lost: 0,
        stale: 0,
      });
      expect((await dw.syncStatus('never')).state).toBe('absent');
    } finally {
      await dw.close();
    }
  });

  it('an existing id: flush waits until the index holds the committed version again', async () => {
    const { dw, source, index } = await open();
    try {
      const { version } = await dw.put({ id: 'doc', text: 'committed', embedding: [1, 0, 0, 0] });
      index.armed = true;
      await expect(dw.put({ id: 'doc', text: 'never committed', embedding: [0, 1, 0, 0] })).rejects.toThrow();
      expect((await index.getVersions(['doc'])).get('doc')).toBeGreaterThan(version!);
      // flush called while the source is still away: it waits for the source, then for the rollback's delivery.
      await new Promise((r) => setTimeout(r, 50));
      const flushed = dw.flush({ timeoutMs: 10_000 });
      expect(await flushed).toMatchObject({ pending: 0, deadLetters: 0 });
      const record = await dw.get('doc');
      expect(record).toMatchObject({ text: 'committed' });
      expect((await index.getVersions(['doc'])).get('doc')).toBe(record!.version);
      expect(await verifyConsistency(source, index, { content: true })).toMatchObject({
        records: 1,
        orphans: 0,
        lost: 0,
        stale: 0,
        mismatched: 0,
      });
      expect((await dw.syncStatus('doc')).state).toBe('synced');
    } finally {
      await dw.close();
    }
  });

  it('a no-op rewrite: its intent, whose delete the outage refused, is deleted once the source answers', async () => {
    const { dw, source } = await open();
    try {
      await dw.put({ id: 'doc', text: 'same', embedding: [1, 0, 0, 0] });
      source.downAfterNextTransaction = true; // the prepare commits, then the source goes away
      const { changed } = await dw.put({ id: 'doc', text: 'same', embedding: [1, 0, 0, 0] });
      expect(changed).toBe(false);
      expect(await dw.flush({ timeoutMs: 10_000 })).toMatchObject({ pending: 0, deadLetters: 0 });
      // (Was: the intent stayed until it expired, an intentTtlMs later, and the id read as written in flight.)
      expect(await source.transaction((tx) => tx.countIntents!('doc'))).toBe(0);
      expect((await dw.syncStatus('doc')).state).toBe('synced');
    } finally {
      await dw.close();
    }
  });
});
