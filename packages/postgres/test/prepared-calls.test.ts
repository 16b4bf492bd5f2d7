/**
 * The store's function calls (`write_one`, `write_changes`, `ack_deliveries`, sync-2pc's prepare and commit) run
 * as named prepared statements, parsed once per connection; a server session that does not hold a statement the
 * client believes it prepared (a `DEALLOCATE`, or a pooler handing out another session: see the PgBouncer tests)
 * makes the store send its calls unnamed, without failing the call that met it.
 */
import type { Change } from '@dualwrite/core';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresRelationalStore } from '../src/index.js';
import { adminQuery, DATABASE_URL, holdRecordLock, testSchema, until } from './helpers.js';

const put = (id: string, text: string): Change => ({
  op: 'put',
  record: { id, text, metadata: { id }, embedding: [1, 0, 0.5] },
});

/** The statements the store's one connection holds prepared (`pg_prepared_statements`), by what they call. */
async function prepared(store: PostgresRelationalStore): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`
    SELECT statement FROM pg_prepared_statements WHERE name LIKE 'dw\\_%'`.execute(store.kysely);
  const kinds = { lease_owner: 'claim', _records: 'records by id', _meta: 'meta' } as Record<string, string>;
  return rows.map((r) => {
    const found =
      /(write_one|write_changes|ack_deliveries|sync_prepare|sync_commit|lease_owner|_records|_meta)/.exec(
        r.statement,
      )?.[1];
    return found === undefined ? '?' : (kinds[found] ?? found);
  });
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

  it('the write and ack calls, the claim and the reads by id and of meta are prepared once on the connection and serve every later call', async () => {
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
    for (let i = 0; i < 3; i++) {
      expect(await store.claimOutbox({ owner: 'w', limit: 10, leaseMs: 30_000, now: Date.now() })).toEqual(
        [],
      );
      expect([...(await store.getRecords(['a', 'b', `r${i}`])).keys()].sort()).toEqual(['a', 'b', `r${i}`]);
      await store.setMeta('k', `v${i}`);
      expect(await store.getMeta('k')).toBe(`v${i}`);
    }
    expect((await prepared(store)).sort()).toEqual([
      'ack_deliveries',
      'claim',
      'meta',
      'records by id',
      'write_changes',
      'write_one',
    ]);
    const stats = await store.outboxStats(Date.now());
    expect(stats.depth).toBe(0);
  });

  it('a session that lost its statements (DEALLOCATE ALL) fails no call: the store sends its calls unnamed from then on', async () => {
    const store = oneConnection();
    await store.init();
    const first = await store.writeChanges([put('x', 'one')], Date.now());
    expect(await prepared(store)).toEqual(['write_one']);
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

  /**
   * Replaces the store's one-change write function (what a one-put `writeChanges` calls) with one whose
   * `out_version` is `numeric` (or back to `bigint`).
   */
  async function flipVersionType(store: PostgresRelationalStore, to: 'numeric' | 'bigint'): Promise<void> {
    const { schema, writeOneFunction } = store.tableNames;
    const { rows } = await sql<{ def: string; args: string }>`
      SELECT pg_get_functiondef(p.oid) AS def, pg_get_function_identity_arguments(p.oid) AS args
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = ${schema} AND p.proname = ${writeOneFunction}`.execute(store.kysely);
    expect(rows).toHaveLength(1);
    const from = to === 'numeric' ? 'bigint' : 'numeric';
    const def = rows[0]!.def.replace(`OUT out_version ${from}`, `OUT out_version ${to}`);
    expect(def).not.toBe(rows[0]!.def);
    await sql.raw(`DROP FUNCTION "${schema}"."${writeOneFunction}"(${rows[0]!.args})`).execute(store.kysely);
    await sql.raw(def).execute(store.kysely);
  }

  it('a call whose function changed a result column type since it was prepared is prepared again (0A000), not failed', async () => {
    const store = oneConnection();
    await store.init();
    await store.writeChanges([put('x', 'one')], Date.now());
    await flipVersionType(store, 'numeric');
    const second = await store.writeChanges([put('x', 'two')], Date.now());
    expect(second[0]).toMatchObject({ id: 'x', changed: true });
    expect(await prepared(store)).toEqual(['write_one', 'write_one']);
    expect((await store.getRecords(['x'])).get('x')?.text).toBe('two');
  });

  it('a function whose result type keeps changing is prepared afresh a bounded number of times, then called unnamed (helper-85)', async () => {
    // Each re-prepare used to lengthen the name by one character: past 63 bytes PostgreSQL cut it to the
    // name the session already held, and the write failed with a raw 42P05 (37 changes in one process).
    const store = oneConnection();
    await store.init();
    for (let flip = 0; flip < 12; flip++) {
      await flipVersionType(store, flip % 2 === 0 ? 'numeric' : 'bigint');
      const written = await store.writeChanges([put(`x${flip}`, `flip ${flip}`)], Date.now());
      expect(written[0]).toMatchObject({ id: `x${flip}`, changed: true });
    }
    const statements = await prepared(store);
    expect(statements.length).toBeGreaterThan(1);
    expect(statements.length).toBeLessThanOrEqual(8);
  });

  it('one schema change that fails the calls in flight on every connection at once costs one new name, not one per connection (helper-87)', async () => {
    const schema = testSchema();
    schemas.push(schema);
    const store = schema.store({ poolSize: 4 });
    stores.push(store);
    await store.init();
    await store.writeChanges([put('a', 'one')], Date.now());
    const records = `"${schema.schema}"."${store.tableNames.records}"`;
    /** Four reads by id, each on its own connection: they queue behind an `ALTER TABLE` held open meanwhile. */
    const readsBehind = async (column: string) => {
      const alter = new pg.Client({ connectionString: DATABASE_URL });
      await alter.connect();
      try {
        await alter.query('BEGIN');
        await alter.query(`ALTER TABLE ${records} ADD COLUMN ${column} int`);
        const reads = Promise.all([1, 2, 3, 4].map(() => store.getRecords(['a'])));
        // Asked on another connection: inside the ALTER's transaction, pg_stat_activity stays the snapshot of
        // its first read there.
        await until('four reads waiting for the ALTER TABLE', async () => {
          const { rows } = await adminQuery<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
            [`%${schema.schema}%`],
          );
          return rows[0]!.n >= 4;
        });
        await alter.query('COMMIT');
        for (const read of await reads) expect(read.get('a')?.text).toBe('one');
      } finally {
        await alter.end();
      }
    };
    await readsBehind('z0'); // every connection prepares the read (its plan already sees z0)
    // Each change makes every connection's prepared read stale at once (0A000: `SELECT *` has another column).
    for (const column of ['z1', 'z2', 'z3']) await readsBehind(column);
    // The names each connection holds (four slow reads of the catalog: one per connection).
    const held = await Promise.all(
      [1, 2, 3, 4].map(() =>
        sql<{ names: string[] | null }>`
          SELECT pg_sleep(0.2), array_agg(name) AS names FROM pg_prepared_statements
          WHERE statement LIKE ${`%${store.tableNames.records}%`} AND statement LIKE '%IN (%'`.execute(
          store.kysely,
        ),
      ),
    );
    const generations = held
      .flatMap(({ rows }) => rows[0]?.names ?? [])
      .map((name) => Number(/^dw_[0-9a-f]{24}_(\d+)$/.exec(name)?.[1] ?? 0));
    // Before: every failing connection moved the name on: 4 per change, unnamed after the second.
    expect(Math.max(...generations), 'one new name per schema change').toBe(3);
  });

  it('a retried call keeps its connection until it answers: the pool neither lends it out nor closes it as idle (helper-85)', async () => {
    const schema = testSchema();
    schemas.push(schema);
    const store = new PostgresRelationalStore({
      pool: { connectionString: DATABASE_URL, max: 1, idleTimeoutMillis: 100 },
      schema: schema.schema,
    });
    const holder = schema.store();
    stores.push(store, holder);
    await store.init();
    await store.writeChanges([put('a', 'one')], Date.now());
    await sql`DEALLOCATE ALL`.execute(store.kysely); // the next call's named statement is refused: it runs again
    const hold = await holdRecordLock(holder, 'a');
    setTimeout(hold.release, 500);
    // The retry waits for the lock for 500 ms, past the pool's 100 ms idle timeout, on the pool's only connection.
    // (Handed back early, it was closed as idle under the running call: the write failed as an outage although
    // it committed; or lent to another call, which queued behind it on the same connection.)
    const written = store.writeChanges([put('a', 'two')], Date.now());
    await hold.done;
    expect((await written)[0]).toMatchObject({ id: 'a', changed: true });
    expect((await store.writeChanges([put('b', 'other')], Date.now()))[0]).toMatchObject({ changed: true });
    const records = await store.getRecords(['a', 'b']);
    expect([records.get('a')?.text, records.get('b')?.text]).toEqual(['two', 'other']);
  });
});
