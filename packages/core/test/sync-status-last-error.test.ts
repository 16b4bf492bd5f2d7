/**
 * `syncStatus`'s `lastError` for a pending record is about the version it reports: a newer write of a record
 * whose delivery failed does not inherit the older version's error (the demo API answered a fresh, valid write
 * with the `syncError` of a rejected earlier one).
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, FaultyVectorStore, TransientBackendError } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 4;

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('timed out');
}

describe('syncStatus lastError', () => {
  it('is the failed attempt at this version, not an older version’s', async () => {
    const vector = new FaultyVectorStore(new MemoryVectorStore({ dimension: DIM }));
    vector.poisonId('a', () => new TransientBackendError('injected 500 for a', { status: 500 }));
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      strategy: 'async-queue',
      driftCheck: false,
      delivery: { pollIntervalMs: 10 },
    });
    try {
      await dw.put({ id: 'a', text: 'rejected', embedding: [1, 0, 0, 0], metadata: {} });
      const failed = await until(
        () => dw.syncStatus('a'),
        (s) => s.state === 'pending' && s.attempts >= 1,
      );
      expect(failed).toMatchObject({
        state: 'pending',
        version: 1,
        lastError: expect.stringContaining('injected'),
      });

      dw.pause();
      const written = await dw.put({ id: 'a', text: 'fixed', embedding: [0, 1, 0, 0], metadata: {} });
      expect(await dw.syncStatus('a')).toMatchObject({
        state: 'pending',
        version: written.version,
        attempts: 0,
        lastError: null,
      });

      // A failure at the new version is reported again.
      dw.resume();
      expect(
        await until(
          () => dw.syncStatus('a'),
          (s) => s.state === 'pending' && s.attempts >= 1,
        ),
      ).toMatchObject({ version: written.version, lastError: expect.stringContaining('injected') });

      vector.curePoison();
      await dw.flush();
      expect(await dw.syncStatus('a')).toMatchObject({ state: 'synced', version: written.version });
    } finally {
      await dw.close();
    }
  });
});
