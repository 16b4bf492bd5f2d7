/**
 * The store's function calls (`write_changes`, `ack_deliveries`, sync-2pc's prepare and commit) run as named
 * prepared statements, parsed once per connection; a server session that does not hold a statement the client
 * believes it prepared (a `DEALLOCATE`, or a pooler handing out another session: see the PgBouncer tests) makes
 * the store send its calls unnamed, without failing the call that met it.
 */
import type { Change } from '@dualwrite/core';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresRelationalStore } from '../src/index.js';
import { testSchema } from './helpers.js';

const put = (id: string, text: string): Change => ({
  op: 'put',
  record: { id, text, metadata: { id }, embedding: [1, 0, 0.5] },
});

/** The statements the store's one connection holds prepared (`pg_prepared_statements`), by what they call. */
async function prepared(store: PostgresRelationalStore): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`
    SELECT statement FROM pg_prepared_statements WHERE name LIKE 'dw\\_%'`.execute(store.kysely);
  return rows.map(
    (r) => /(write_changes|ack_deliveries|sync_prepare|sync_commit)/.exec(r.statement)?.[1] ?? '?',
  );
}

describe('PostgreSQL store functions as named prepared statements', () => {
  const schemas: ReturnType<typeof testSchema>[] = [];
  const stores: PostgresRelationalStore[] = [];
  /** A store on a fresh schema over one pooled connection (every call meets the same server session). */
  const oneConnection = () => {
    const schema = testSchema();
    schemas.push(schema);
    const store = schema.store({ poolSize: 1 });
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const s of schemas.splice(0)) await s.drop();
  });

  it('the write and ack calls are prepared once on the connection and serve every later call', async () => {
    const store = oneConnection();
    await store.init();
    for (let i = 0; i < 5; i++) await store.writeChanges([put(`r${i}`, `text ${i}`)], Date.now());
    await store.writeChanges([put('a', 'a'), put('b', 'b')], Date.now());
    const leases = await store.claimOutbox({ owner: 'w', limit: 10, leaseMs: 30_000, now: Date.now() });
    expect(leases).toHaveLength(7);
    const outcomes = await store.ackOutbox(
      leases.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
      Date.now(),
    );
    expect(outcomes).toEqual(leases.map(() => 'acked'));
    expect((await prepared(store)).sort()).toEqual(['ack_deliveries', 'write_changes']);
    const stats = await store.outboxStats(Date.now());
    expect(stats.depth).toBe(0);
  });

  it('a session that lost its statements (DEALLOCATE ALL) fails no call: the store sends its calls unnamed from then on', async () => {
    const store = oneConnection();
    await store.init();
    const first = await store.writeChanges([put('x', 'one')], Date.now());
    expect(await prepared(store)).toEqual(['write_changes']);
    await sql`DEALLOCATE ALL`.execute(store.kysely);
    // node-postgres still believes the statement is there and sends only its Bind: the server refuses it (26000).
    const second = await store.writeChanges([put('x', 'two')], Date.now());
    const third = await store.writeChanges([put('y', 'three')], Date.now());
    expect(second[0]).toMatchObject({ id: 'x', changed: true });
    expect(second[0]!.version!).toBeGreaterThan(first[0]!.version!);
    expect(third[0]).toMatchObject({ id: 'y', changed: true });
    const records = await store.getRecords(['x', 'y']);
    expect(records.get('x')?.text).toBe('two');
    expect(records.get('y')?.version).toBe(third[0]!.version);
    expect(await prepared(store)).toEqual([]);
    // Each change was written once: one outbox entry per id, at its latest version.
    const leases = await store.claimOutbox({ owner: 'w', limit: 10, leaseMs: 30_000, now: Date.now() });
    expect(new Map(leases.map((l) => [l.recordId, l.version]))).toEqual(
      new Map([
        ['x', second[0]!.version],
        ['y', third[0]!.version],
      ]),
    );
  });

  it('a call whose function changed a result column type since it was prepared is prepared again (0A000), not failed', async () => {
    const store = oneConnection();
    await store.init();
    await store.writeChanges([put('x', 'one')], Date.now());
    const { schema, writeFunction } = store.tableNames;
    const { rows } = await sql<{ def: string; args: string }>`
      SELECT pg_get_functiondef(p.oid) AS def, pg_get_function_identity_arguments(p.oid) AS args
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = ${schema} AND p.proname = ${writeFunction}
        AND pg_get_function_identity_arguments(p.oid) LIKE '%p_try_locks%'`.execute(store.kysely);
    expect(rows).toHaveLength(1); // the variant the store calls (its lock parameters last)
    // The same function answering its versions as numeric: the prepared plan's result type no longer matches.
    const version = 'coalesce(v.version, CASE WHEN d.live THEN d.cur_version END)';
    const numeric = rows[0]!.def
      .replace('out_version bigint', 'out_version numeric')
      .replace(version, `${version}::numeric`);
    expect(numeric).toContain('::numeric');
    await sql.raw(`DROP FUNCTION "${schema}"."${writeFunction}"(${rows[0]!.args})`).execute(store.kysely);
    await sql.raw(numeric).execute(store.kysely);
    const second = await store.writeChanges([put('x', 'two')], Date.now());
    expect(second[0]).toMatchObject({ id: 'x', changed: true });
    expect(await prepared(store)).toEqual(['write_changes', 'write_changes']);
    expect((await store.getRecords(['x'])).get('x')?.text).toBe('two');
  });
});
