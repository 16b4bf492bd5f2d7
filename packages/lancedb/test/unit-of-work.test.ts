import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, HashingEmbedder, STRATEGY_NAMES, verifyConsistency } from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { LanceDbVectorStore } from '../src/index.js';

// The transactional outbox for app-owned tables: an application row, the record and its outbox entry
// commit together or not at all.
describe.each(STRATEGY_NAMES)('unit of work with an app-owned table (%s)', (strategy) => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function setup() {
    const dir = await mkdtemp(join(tmpdir(), 'dw-uow-'));
    dirs.push(dir);
    const relational = new SqliteRelationalStore({ path: join(dir, 'app.db') });
    const dw = await createDualWrite({
      relational,
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 16 }),
      embedder: new HashingEmbedder({ dimension: 16 }),
      strategy,
      delivery: { pollIntervalMs: 10 },
    });
    await relational.kysely.schema
      .createTable('notes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('body', 'text')
      .execute();
    return { dw, relational };
  }

  it('commits the app row, the record and its outbox entry together', async () => {
    const { dw, relational } = await setup();
    const result = await dw.transaction(async (uow) => {
      await uow.db.insertInto('notes').values({ id: 'n1', body: 'hello' }).execute();
      return uow.put({ id: 'n1', text: 'hello world' });
    });
    expect(result.changed).toBe(true);
    await dw.flush();
    expect(await relational.kysely.selectFrom('notes').selectAll().execute()).toEqual([
      { id: 'n1', body: 'hello' },
    ]);
    expect((await dw.get('n1'))?.text).toBe('hello world');
    expect((await dw.search('hello world', { k: 1 }))[0]?.id).toBe('n1');
    expect(await verifyConsistency(relational, dw.vector)).toMatchObject({ lost: 0, stale: 0, orphans: 0 });
    await dw.close();
  });

  it('rolls back the app row, the record and the outbox entry when the callback throws', async () => {
    const { dw, relational } = await setup();
    await expect(
      dw.transaction(async (uow) => {
        await uow.db.insertInto('notes').values({ id: 'n2', body: 'draft' }).execute();
        await uow.put({ id: 'n2', text: 'draft' });
        throw new Error('application failure');
      }),
    ).rejects.toThrow('application failure');
    expect(await relational.kysely.selectFrom('notes').selectAll().execute()).toEqual([]);
    expect(await dw.get('n2')).toBeUndefined();
    expect(await relational.getOutboxEntry('n2')).toBeUndefined();
    await dw.flush();
    expect(await dw.vector.count()).toBe(0);
    await dw.close();
  });

  it('rejects an invalid record inside the unit of work and writes nothing', async () => {
    const { dw, relational } = await setup();
    await expect(
      dw.transaction(async (uow) => {
        await uow.db.insertInto('notes').values({ id: 'n3', body: 'x' }).execute();
        await uow.put({ id: 'n3', text: 'x', embedding: [1, 2, 3] });
      }),
    ).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH', field: 'record.embedding' });
    expect(await relational.kysely.selectFrom('notes').selectAll().execute()).toEqual([]);
    await dw.close();
  });
});
