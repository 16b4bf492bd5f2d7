/**
 * `dw.transaction` on real SQLite: a write the callback starts but forgets to await finishes inside the
 * transaction, record and outbox entry together, before it commits.
 */
import { join } from 'node:path';
import { createDualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing';
import { describe, expect, it } from 'vitest';
import { SqliteRelationalStore } from '../src/index.js';
import { tempDir } from './helpers.js';

describe('dw.transaction with a write not awaited', () => {
  it.each([0, 1, 2, 3, 4, 5, 8])(
    'after %i ticks of the callback: the write completes in the transaction and is delivered',
    async (ticks) => {
      const { dir, remove } = await tempDir();
      const dw = await createDualWrite({
        relational: new SqliteRelationalStore({ path: join(dir, 'db.sqlite') }),
        vector: new MemoryVectorStore({ dimension: 3 }),
        strategy: 'batch',
        driftCheck: false,
      });
      try {
        let put: Promise<unknown> | undefined;
        await dw.transaction(async (uow) => {
          put = uow.put({ id: 'r', text: 'x', embedding: [1, 2, 3], metadata: { k: 'v' } }); // no await
          for (let i = 0; i < ticks; i++) await null;
        });
        await expect(put).resolves.toMatchObject({ id: 'r', version: 1, changed: true });
        expect(await dw.flush()).toMatchObject({ pending: 0, deadLetters: 0 });
        expect(await dw.syncStatus('r')).toMatchObject({ state: 'synced', version: 1 });
        expect((await dw.vector.getVersions(['r'])).get('r')).toBe(1);
      } finally {
        await dw.close();
        await remove();
      }
    },
  );
});
