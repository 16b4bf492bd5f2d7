/**
 * The write and sync-2pc commit functions take every embedding of a call in one binary `bytea` with their lengths
 * (migration `0011_packed_embeddings`): each change gets its own bytes back whatever the mix of puts with and
 * without an embedding, deletes and lengths in the call; and the array variants a process of the release before
 * calls still write by the same rules.
 */
import { type Change, createDualWrite } from '@dualwrite/core';
import { MemoryVectorStore } from '@dualwrite/core/testing/stores';
import { embeddingBytes } from '@dualwrite/sql';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresRelationalStore } from '../src/index.js';
import { testSchema } from './helpers.js';

const put = (id: string, embedding?: number[]): Change => ({
  op: 'put',
  record: { id, text: `text of ${id}`, metadata: { id }, embedding },
});

describe('PostgreSQL: embeddings packed into one binary parameter', () => {
  const schemas: ReturnType<typeof testSchema>[] = [];
  const stores: PostgresRelationalStore[] = [];
  const open = async () => {
    const schema = testSchema();
    schemas.push(schema);
    const store = schema.store();
    stores.push(store);
    await store.init();
    return store;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const s of schemas.splice(0)) await s.drop();
  });

  it('one write call mixing puts with and without embeddings, of several lengths, and deletes stores each at its own record', async () => {
    const store = await open();
    await store.writeChanges([put('gone', [9, 9])], Date.now());
    const results = await store.writeChanges(
      [
        put('a', [1, 2, 3]),
        put('b'),
        { op: 'delete', id: 'gone' },
        put('c', [-0, 4, 5.5]),
        put('d', [7]),
        put(
          'e',
          Array.from({ length: 384 }, (_, i) => i / 7),
        ),
      ],
      Date.now(),
    );
    expect(results.map((r) => r.changed)).toEqual([true, true, true, true, true, true]);
    const records = await store.getRecords(['a', 'b', 'gone', 'c', 'd', 'e']);
    expect(records.get('a')?.embedding).toEqual([1, 2, 3]);
    expect(records.get('b')?.embedding).toBeNull();
    expect(records.has('gone'), 'deleted').toBe(false);
    expect(records.get('c')?.embedding).toEqual([0, 4, 5.5]);
    expect(records.get('d')?.embedding).toEqual([7]);
    expect(records.get('e')?.embedding).toEqual(Array.from({ length: 384 }, (_, i) => Math.fround(i / 7)));
    const again = await store.writeChanges([put('a', [1, 2, 3]), put('c', [0, 4, 5.5])], Date.now());
    expect(
      again.map((r) => r.changed),
      'the same bytes again are no-ops',
    ).toEqual([false, false]);
  });

  it('a sync-2pc batch commits each record with its own embedding', async () => {
    const store = await open();
    const vector = new MemoryVectorStore({ dimension: 3 });
    const dw = await createDualWrite({ relational: store, vector, strategy: 'sync-2pc', closeStores: false });
    try {
      await dw.putMany([
        { id: 'x', text: 'x', embedding: [1, 0, 0] },
        { id: 'y', text: 'y', embedding: [0, 2, 0] },
        { id: 'z', text: 'z', embedding: [0, 0, 3] },
      ]);
    } finally {
      await dw.close();
    }
    const records = await store.getRecords(['x', 'y', 'z']);
    expect([...records.values()].map((r) => [r.id, r.embedding, r.syncedVersion === r.version])).toEqual([
      ['x', [1, 0, 0], true],
      ['y', [0, 2, 0], true],
      ['z', [0, 0, 3], true],
    ]);
  });

  it("the write function's array variant, which a process of the release before calls, still writes by the same rules", async () => {
    const store = await open();
    const { schema, writeFunction } = store.tableNames;
    const olderCall = (id: string, embedding: number[]) =>
      sql<{ out_version: string; out_changed: boolean }>`
        SELECT out_version, out_changed FROM ${sql.id(schema, writeFunction)}(
          ${[1]}::int4[], ${[id]}::text[], ${['upsert']}::text[], ${[`text of ${id}`]}::text[],
          ${[embeddingBytes(embedding)]}::bytea[], ${[JSON.stringify({ id })]}::text[], ${[null]}::bytea[],
          ${['']}::text[], ${Date.now()}::bigint, false, false, 0)`.execute(store.kysely);
    const first = await olderCall('old', [1, 2]);
    expect(first.rows[0]?.out_changed).toBe(true);
    expect((await store.getRecords(['old'])).get('old')?.embedding).toEqual([1, 2]);
    expect((await olderCall('old', [1, 2])).rows[0]?.out_changed, 'the same write again is a no-op').toBe(
      false,
    );
    const [mine] = await store.writeChanges([put('old', [1, 2])], Date.now());
    expect(mine, "this release's call sees the older write as the same").toMatchObject({ changed: false });
  });
});
