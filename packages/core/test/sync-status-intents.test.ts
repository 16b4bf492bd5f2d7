/**
 * `syncStatus` never says `synced` while a sync-2pc write of the id is in flight (or abandoned by a crashed
 * writer): the index may already hold a version the source has not committed.
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  VectorStoreWrapper,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

/** Holds every upsert after it has reached the index until `release()`, once `hold` is set. */
class HeldAfterWrite extends VectorStoreWrapper {
  hold = false;
  reached!: Promise<void>;
  #reached!: () => void;
  #gate: Promise<void> = Promise.resolve();
  release!: () => void;

  arm(): void {
    this.hold = true;
    this.reached = new Promise((resolve) => {
      this.#reached = resolve;
    });
    this.#gate = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  override async upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    const report = await this.inner.upsert(records, options);
    if (this.hold) {
      this.#reached();
      await this.#gate;
    }
    return report;
  }
}

describe('syncStatus with a sync-2pc write in flight', () => {
  it('reports drifted (with the reason) while the intent is logged and the index holds another version', async () => {
    const vector = new HeldAfterWrite(new MemoryVectorStore({ dimension: DIM }));
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      strategy: 'sync-2pc',
      driftCheck: false,
    });
    try {
      await dw.put({ id: 'a', text: 'one', embedding: [1, 0, 0, 0], metadata: {} });
      expect(await dw.syncStatus('a')).toMatchObject({ state: 'synced', version: 1 });
      vector.arm();
      const second = dw.put({ id: 'a', text: 'two', embedding: [0, 1, 0, 0], metadata: {} });
      await vector.reached; // the index holds version 2; the source has not committed it
      expect((await vector.getVersions(['a'])).get('a')).toBe(2);
      expect(await dw.syncStatus('a')).toMatchObject({
        state: 'drifted',
        version: 1,
        reason: expect.stringContaining('sync-2pc'),
      });
      vector.release();
      await second;
      expect(await dw.syncStatus('a')).toMatchObject({ state: 'synced', version: 2 });
      // An abandoned intent whose write never reached the index (or was compensated): the index is seen holding
      // the committed version, so it is synced.
      await dw.relational.transaction((tx) =>
        tx.putIntent!({ token: 'abandoned', recordId: 'a', version: 3, expiresAt: Date.now() + 60_000 }),
      );
      expect(await dw.syncStatus('a')).toMatchObject({ state: 'synced', version: 2 });
    } finally {
      vector.release?.();
      await dw.close();
    }
  });
});
