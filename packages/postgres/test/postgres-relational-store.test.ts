import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import {
  BackendUnavailableError,
  type Change,
  contentHash,
  filledByEmbedder,
  type Metadata,
  PermanentBackendError,
  TransientBackendError,
  toFloat32Precision,
  ValidationError,
  writeChangesWithOutbox,
} from '@dualwrite/core';
import { checkStoreFromEarlierRelease, relationalStoreSuite } from '@dualwrite/core/testing';
import {
  checkCacheExpiryUpgrade,
  checkCaughtDeadlock,
  checkForeignTableRefused,
  checkFractionalClock,
  checkMissingSchema,
  checkSchemaFromNewerRelease,
} from '@dualwrite/sql/testing';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUTOVACUUM_OFF_WARNING,
  autovacuumState,
  mapPostgresError,
  POSTGRES_SCHEMA_VERSION,
  PostgresRelationalStore,
  type PostgresRelationalStoreOptions,
  postgresErrorCode,
  postgresMigrations,
  postgresTableNames,
} from '../src/index.js';
import { migrationLockKey } from '../src/postgres-migrations.js';
import { adminQuery, DATABASE_URL, postgresFactory, testSchema } from './helpers.js';

relationalStoreSuite('postgres', postgresFactory(), { sql: true });

const T0 = 1_700_000_000_000;

type Tx = Parameters<Parameters<PostgresRelationalStore['transaction']>[0]>[0];

async function write0(tx: Tx, id: string, text = `text of ${id}`, metadata: Metadata = {}): Promise<number> {
  const version = await tx.nextVersion();
  await tx.writeRecord({
    id,
    text,
    embedding: [1, 2, 3],
    metadata,
    version,
    deleted: false,
    contentHash: 'h',
    syncedVersion: null,
    now: T0,
  });
  await tx.enqueue(id, version, 'upsert', T0);
  return version;
}

function write(store: PostgresRelationalStore, id: string, text?: string): Promise<number> {
  return store.transaction((tx) => write0(tx, id, text));
}

/** A sync-2pc put of `id` through the store's fast path: prepare (one call), then commit (one call). */
async function syncPut(store: PostgresRelationalStore, id: string, contended = false): Promise<void> {
  const change: Change = { op: 'put', record: { id, text: `t ${id}`, metadata: {}, embedding: [1, 1] } };
  const [prepared] = await store.prepareIntents([change], [`token-${id}`], T0 + 60_000);
  const next = {
    ...change.record,
    embedding: [1, 1],
    version: prepared!.version,
    deleted: false,
    contentHash: 'h',
    syncedVersion: null,
    now: T0,
  };
  await store.commitIntents(
    [{ token: `token-${id}`, next, op: 'upsert', previousVersion: null, contended }],
    { now: T0, deferred: false, dropTokens: [] },
  );
}

/** A promise and its resolver. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('PostgresRelationalStore (PostgreSQL specifics)', () => {
  let fixture: ReturnType<typeof testSchema>;
  const open: PostgresRelationalStore[] = [];

  function store(options: Partial<PostgresRelationalStoreOptions> = {}) {
    const s = fixture.store(options);
    open.push(s);
    return s;
  }

  beforeEach(() => {
    fixture = testSchema();
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await fixture.drop();
  });

  it('lets the embedding cache expire on a schema the release before wrote', async () => {
    await checkCacheExpiryUpgrade({
      open: () => fixture.store(),
      migrations: postgresMigrations(postgresTableNames(fixture.schema, 'dw_')),
      expiry: '0010_embedding_cache_expiry',
      schema: fixture.schema,
    });
  });

  it('warns at init() when autovacuum skips the outbox or the records table, once per table', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => {
      if ((warning as { code?: string }).code === AUTOVACUUM_OFF_WARNING) warnings.push(warning.message);
    };
    const initialised = async () => {
      const s = store();
      await s.init();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      return s;
    };
    const first = await initialised();
    const { rows } = await sql<{ on: boolean }>`SELECT current_setting('autovacuum')::boolean AS on`.execute(
      first.kysely,
    );
    const at = (table: string, value: string) =>
      sql`ALTER TABLE ${sql.id(fixture.schema, table)} SET (autovacuum_enabled = ${sql.raw(value)})`.execute(
        first.kysely,
      );
    expect(await autovacuumState(first.kysely, first.tableNames)).toEqual({
      serverOff: !rows[0]!.on, // this machine's shared server may run without it
      tablesOff: [],
    });
    await at('dw_outbox', 'off');
    await at('dw_records', 'false');
    await at('dw_intents', 'yes');
    process.on('warning', onWarning);
    try {
      await initialised();
      const mine = () => warnings.filter((w) => w.includes(`${fixture.schema}.`));
      expect(mine()).toEqual([
        expect.stringMatching(
          new RegExp(
            `^autovacuum_enabled is false on ${fixture.schema}\\.dw_outbox, ${fixture.schema}\\.dw_records: `,
          ),
        ),
      ]);
      await initialised();
      expect(mine(), 'once per table').toHaveLength(1);
      await at('dw_outbox', 'on');
      await sql`ALTER TABLE ${sql.id(fixture.schema, 'dw_records')} RESET (autovacuum_enabled)`.execute(
        first.kysely,
      );
      expect((await autovacuumState(first.kysely, first.tableNames)).tablesOff).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('runs on a schema a newer release migrated further when it allows, and refuses when it does not', async () => {
    await checkSchemaFromNewerRelease({
      open: () => fixture.store(),
      migrations: postgresMigrations(postgresTableNames(fixture.schema, 'dw_')),
      schema: fixture.schema,
    });
  });

  it('refuses an application table under the name of its records table, before creating anything', async () => {
    await checkForeignTableRefused({ open: () => fixture.store(), schema: fixture.schema });
  });

  it('a store used before init(), or whose records table was dropped, fails typed and says to call init()', async () => {
    await checkMissingSchema({ open: () => fixture.store(), schema: fixture.schema });
  });

  it("writes whole ms on a caller's clock that counts fractions, readable by every other store", async () => {
    await checkFractionalClock({ open: () => fixture.store() });
  });

  it('a deadlock the callback caught: the transaction and its later statements fail retryable, nothing of it written', async () => {
    await checkCaughtDeadlock({ open: () => fixture.store({ poolSize: 3 }), schema: fixture.schema });
  });

  it('opens a schema written by release 0.1 (its pg_dump) and carries on from its data', async () => {
    const dump = await readFile(new URL('./fixtures/release-0.1.sql', import.meta.url), 'utf8');
    await adminQuery(dump.replaceAll('release_0_1', fixture.schema));
    const s = store();
    await s.init();
    await checkStoreFromEarlierRelease(s);
  });

  it('an id over 2,600 UTF-8 bytes is a ValidationError on every write path before any SQL, whatever it compresses to (helper-52)', async () => {
    const s = store();
    await s.init();
    // Incompressible ASCII: 3,000 bytes reached the outbox index and failed there (index row size exceeds btree
    // maximum 2704); 'x' × 3,000 compressed and was stored.
    const random = (bytes: number) => randomBytes(bytes).toString('base64').slice(0, bytes);
    const put = (id: string): Change => ({
      op: 'put',
      record: { id, text: 't', metadata: {}, embedding: [1, 0] },
    });
    for (const id of [random(3_000), 'x'.repeat(3_000), '한'.repeat(900)]) {
      await expect(s.writeChanges([put(id)], T0)).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
      await expect(s.prepareIntents([put(id)], ['tok'], T0 + 60_000)).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'id',
      });
    }
    // Inside a transaction the refusal comes before the statement, so the transaction goes on and commits.
    await s.transaction(async (tx) => {
      await expect(write0(tx, random(3_000))).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
      await write0(tx, 'after');
    });
    const longest = random(2_600);
    expect((await s.writeChanges([put(longest)], T0))[0]).toMatchObject({ id: longest, changed: true });
    expect([...(await s.getRecords([longest, 'after'])).keys()].sort()).toEqual(['after', longest].sort());
  });

  it('a database whose encoding is not UTF-8 is refused at init(), naming the database (helper-52)', async () => {
    const name = `dw_latin1_${randomBytes(4).toString('hex')}`;
    await adminQuery(
      `CREATE DATABASE ${name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
    );
    const url = new URL(DATABASE_URL);
    url.pathname = `/${name}`;
    const s = new PostgresRelationalStore({ connectionString: url.toString() });
    try {
      await expect(s.init()).rejects.toMatchObject({ code: 'VALIDATION', field: 'database' });
    } finally {
      await s.close();
      await adminQuery(`DROP DATABASE ${name} WITH (FORCE)`);
    }
  });

  it('concurrent draws that must move the sequence (nextVersion(atLeast)) never deadlock', async () => {
    // Each transaction holds the sequence (nextval) and then needs ALTER SEQUENCE: without the move lock,
    // 60 of these 120 transactions died with 40P01 (deadlock detected).
    const s = store({ poolSize: 8 });
    await s.init();
    const drawn: number[] = [];
    for (let round = 0; round < 30; round++) {
      const floor = (await s.currentVersion()) + 100;
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => s.transaction((tx) => tx.nextVersion(floor))),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      expect(failed, String((failed[0] as PromiseRejectedResult | undefined)?.reason)).toHaveLength(0);
      for (const r of results) if (r.status === 'fulfilled') drawn.push(r.value);
      expect(Math.min(...drawn.slice(-4)), 'every draw is above atLeast').toBeGreaterThan(floor);
    }
    expect(new Set(drawn).size, 'no version twice').toBe(drawn.length);
  });

  it('keeps data across close/reopen; concurrent init() from several instances is safe and idempotent', async () => {
    const starters = Array.from({ length: 4 }, () => store());
    await Promise.all(starters.map((s) => s.init()));
    const v1 = await write(starters[0]!, 'kept');
    for (const s of starters) await s.close();

    const second = store();
    await second.init();
    await second.init();
    expect((await second.getRecords(['kept'])).get('kept')).toMatchObject({
      version: v1,
      text: 'text of kept',
    });
    expect(await write(second, 'next'), 'the version sequence survives a reopen').toBeGreaterThan(v1);
    const { rows } = await sql<{ name: string }>`
      SELECT name FROM ${sql.id(fixture.schema, second.tableNames.migrations)}`.execute(second.kysely);
    expect(rows.map((r) => r.name)).toHaveLength(POSTGRES_SCHEMA_VERSION);
    const { rows: tables } = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${fixture.schema}
      ORDER BY table_name`.execute(second.kysely);
    expect(tables.map((t) => t.table_name)).toEqual([
      'dw_embedding_cache',
      'dw_intents',
      'dw_meta',
      'dw_migrations',
      'dw_migrations_lock',
      'dw_outbox',
      'dw_records',
    ]);
  });

  it('runs transactions at READ COMMITTED even when the session default is SERIALIZABLE', async () => {
    const s = store({ pool: { options: '-c default_transaction_isolation=serializable' } });
    await s.init();
    const level = await s.transaction(async (tx) => {
      const { rows } = await sql<{ transaction_isolation: string }>`SHOW transaction_isolation`.execute(
        tx.native,
      );
      return rows[0]!.transaction_isolation;
    });
    expect(level).toBe('read committed');
  });

  it('loses no update when two instances read-modify-write the same ids concurrently', async () => {
    const a = store({ poolSize: 5 });
    const b = store({ poolSize: 5 });
    await a.init();
    const increment = (s: PostgresRelationalStore, id: string) =>
      s.transaction(async (tx) => {
        const current = await tx.getRecord(id); // takes the id's lock: the other writers wait here
        const n = Number(current?.metadata.n ?? 0);
        await new Promise((r) => setTimeout(r, 1)); // widen the read-modify-write window
        return write0(tx, id, `n=${n + 1}`, { n: n + 1 });
      });
    const versions = await Promise.all(
      Array.from({ length: 40 }, (_, i) => increment(i % 2 === 0 ? a : b, i % 4 < 2 ? 'counter' : 'fresh')),
    );
    const records = await a.getRecords(['counter', 'fresh']);
    expect(records.get('counter')!.metadata.n, 'every increment of an existing id counted').toBe(20);
    expect(records.get('fresh')!.metadata.n, 'every increment of a new id counted').toBe(20);
    expect(new Set(versions).size).toBe(40);
    for (const id of ['counter', 'fresh']) {
      const versionsOfId = versions.filter((_, i) => (i % 4 < 2 ? 'counter' : 'fresh') === id);
      expect(records.get(id)!.version, `${id} ends at its highest version`).toBe(Math.max(...versionsOfId));
      expect((await a.getOutboxEntry(id))!.version).toBe(records.get(id)!.version);
    }
  });

  it('writeChanges (one statement each) from two instances loses no write of an id and keeps versions in commit order', async () => {
    const a = store({ poolSize: 5 });
    const b = store({ poolSize: 5 });
    await a.init();
    const put = (s: PostgresRelationalStore, id: string, i: number) =>
      s.writeChanges(
        [{ op: 'put', record: { id, text: `put ${i}`, metadata: { i }, embedding: [i, 1] } }],
        T0 + i,
      );
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => put(i % 2 === 0 ? a : b, ['x', 'y', 'z'][i % 3]!, i)),
    );
    const versions = results.map(([r]) => r!.version!);
    expect(new Set(versions).size, 'a version each').toBe(60);
    const records = await a.getRecords(['x', 'y', 'z']);
    for (const [k, id] of ['x', 'y', 'z'].entries()) {
      const mine = versions.filter((_, i) => i % 3 === k);
      const last = versions.indexOf(Math.max(...mine));
      const record = records.get(id)!;
      expect(record.version, `${id} holds its highest version`).toBe(versions[last]);
      expect(record.text, `${id} holds the write that drew it`).toBe(`put ${last}`);
      expect((await a.getOutboxEntry(id))!.version).toBe(record.version);
    }
  });

  it('writeChanges keeps a stored embedding for an unchanged text and hashes what the caller gave, as core does', async () => {
    const s = store();
    await s.init();
    await s.writeChanges(
      [{ op: 'put', record: { id: 'k', text: 'same', metadata: { a: 1 }, embedding: [0.1, 2] } }],
      T0,
    );
    const [changed] = await s.writeChanges(
      [{ op: 'put', record: { id: 'k', text: 'same', metadata: { a: 2 }, embedding: undefined } }],
      T0 + 1,
    );
    const [same] = await s.writeChanges(
      [{ op: 'put', record: { id: 'k', text: 'same', metadata: { a: 2 }, embedding: undefined } }],
      T0 + 2,
    );
    const record = (await s.getRecords(['k'])).get('k')!;
    expect(changed!.changed).toBe(true);
    expect(same).toEqual({ id: 'k', version: changed!.version, changed: false });
    expect(record.embedding).toEqual(toFloat32Precision([0.1, 2]));
    // The latest write gave no embedding: the hash covers none (the stored vector is now the embedder's).
    expect(record.contentHash).toBe(contentHash('same', { a: 2 }, null));
    expect(filledByEmbedder(record)).toBe(true);
  });

  it('writeChanges: metadata holding U+0000 is unchanged in any key order; a row an older release stored unsorted is written once more', async () => {
    const s = store();
    await s.init();
    const put = (metadata: Metadata) =>
      s.writeChanges([{ op: 'put', record: { id: 'nul', text: 't', metadata, embedding: [1, 2] } }], T0);
    expect((await put({ 'a\u0000': 'x\u0000', b: 2 }))[0]!.changed).toBe(true);
    expect((await put({ 'a\u0000': 'x\u0000', b: 2 }))[0]!.changed, 'same metadata').toBe(false);
    expect((await put({ b: 2, 'a\u0000': 'x\u0000' }))[0]!.changed, 'same metadata, other order').toBe(false);
    // Stored in insertion order (as releases before sorted keys did): json_each cannot read U+0000, so the
    // function cannot prove it equal and writes it again, sorted.
    const records = sql.id(fixture.schema, s.tableNames.records);
    await sql`UPDATE ${records} SET metadata = ${'{"b":2,"a\\u0000":"x\\u0000"}'}::json WHERE id = 'nul'`.execute(
      s.kysely,
    );
    expect((await put({ 'a\u0000': 'x\u0000', b: 2 }))[0]!.changed, 'unsorted old row').toBe(true);
    expect((await put({ b: 2, 'a\u0000': 'x\u0000' }))[0]!.changed, 'sorted since').toBe(false);
    expect((await s.getRecords(['nul'])).get('nul')!.metadata).toEqual({ 'a\u0000': 'x\u0000', b: 2 });
  });

  it('writeChanges: metadata another tool spelled differently is unchanged; metadata that is not an object never fails the batch or the one-change call', async () => {
    const s = store();
    await s.init();
    const put = (id: string, metadata: Metadata): Change => ({
      op: 'put',
      record: { id, text: 't', metadata, embedding: [1, 2] },
    });
    await s.writeChanges([put('spelled', { a: 1, b: 'é', c: 1e21 }), put('odd', {})], T0);
    const records = sql.id(fixture.schema, s.tableNames.records);
    const setMetadata = (id: string, json: string) =>
      sql`UPDATE ${records} SET metadata = ${json}::json WHERE id = ${id}`.execute(s.kysely);
    await setMetadata('spelled', '{"c": 1E+21, "b": "\\u00e9", "a": 1.0}');
    await setMetadata('odd', '[]');
    const results = await s.writeChanges(
      [put('spelled', { a: 1, b: 'é', c: 1e21 }), put('odd', {}), put('other', { k: 1 })],
      T0 + 1,
    );
    expect(results.map((r) => [r.id, r.changed])).toEqual([
      ['spelled', false],
      ['odd', true],
      ['other', true],
    ]);
    expect((await s.getRecords(['odd'])).get('odd')!.metadata).toEqual({});
    // A put of one change takes the one-change function (`write_one`): the same comparison.
    await setMetadata('spelled', '{"b": "\\u00e9", "a": 1.00, "c": 1e21}');
    await setMetadata('odd', '"text"');
    expect((await s.writeChanges([put('spelled', { a: 1, b: 'é', c: 1e21 })], T0 + 2))[0]!.changed).toBe(
      false,
    );
    expect((await s.writeChanges([put('odd', {})], T0 + 2))[0]!.changed).toBe(true);
    expect((await s.getRecords(['odd'])).get('odd')!.metadata).toEqual({});
  });

  it('writeChanges treats an embedding that differs only in the sign of a zero as unchanged (core compares values)', async () => {
    const s = store();
    await s.init();
    const put = (embedding: number[]) =>
      s.writeChanges([{ op: 'put', record: { id: 'z', text: 't', metadata: {}, embedding } }], T0);
    const [first] = await put([0, 1, -0]);
    expect(await put([-0, 1, 0])).toEqual([{ id: 'z', version: first!.version, changed: false }]);
    expect((await put([-0, 1, 1e-7]))[0]!.changed, 'a different value is a change').toBe(true);
  });

  it('writeChanges still serialises per id where the default isolation is not READ COMMITTED', async () => {
    const s = store({ pool: { options: '-c default_transaction_isolation=repeatable\\ read' } });
    await s.init();
    const { rows } = await sql<{
      default_transaction_isolation: string;
    }>`SHOW default_transaction_isolation`.execute(s.kysely);
    expect(rows[0]!.default_transaction_isolation).toBe('repeatable read');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.writeChanges(
          [{ op: 'put', record: { id: 'r', text: `t${i}`, metadata: {}, embedding: [i, 1] } }],
          T0,
        ),
      ),
    );
    const versions = results.map(([r]) => r!.version!);
    const record = (await s.getRecords(['r'])).get('r')!;
    expect(record.version).toBe(Math.max(...versions));
    expect(record.text).toBe(`t${versions.indexOf(record.version)}`);
  });

  it("sync-2pc's prepare and commit work where the default isolation is not READ COMMITTED, and the commit notifies when it enqueues", async () => {
    const s = store({ pool: { options: '-c default_transaction_isolation=serializable' } });
    await s.init();
    let notified = 0;
    const unsubscribe = await s.subscribeOutbox(() => {
      notified++;
    });
    try {
      const commit = (id: string, contended: boolean) => syncPut(s, id, contended);
      await commit('quiet', false);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(notified, 'a synced commit enqueues nothing and notifies nobody').toBe(0);
      await commit('loud', true);
      await expect.poll(() => notified, { timeout: 5_000 }).toBeGreaterThan(0);
      expect((await s.getRecords(['quiet'])).get('quiet')?.syncedVersion).not.toBeNull();
      expect((await s.getOutboxEntry('loud'))?.state).toBe('pending');
      expect(await s.listExpiredIntents(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    } finally {
      await unsubscribe();
    }
  });

  it('the store functions find rows by index even on a connection that planned them while the tables were new', async () => {
    const tables = postgresTableNames(fixture.schema, 'dw_');
    const put = (id: string): Change => ({
      op: 'put',
      record: { id, text: `t ${id}`, metadata: {}, embedding: [1, 2] },
    });
    // Entries to ack later, claimed before the count starts (a claim may scan the outbox: it plans each time).
    const setup = store();
    await setup.init();
    await setup.writeChanges(
      Array.from({ length: 40 }, (_, i) => put(`a${i}`)),
      T0,
    );
    const leases = await setup.claimOutbox({ owner: 'w', limit: 100, leaseMs: 60_000, now: T0 });
    await setup.close();
    /** Scans of the store's tables so far, as the statistics report them once the writers' sessions ended. */
    const scans = async () =>
      (
        await adminQuery<{ relname: string; seq_scan: string; idx_scan: string | null }>(
          'SELECT relname, seq_scan, idx_scan FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = ANY ($2)',
          [fixture.schema, [tables.records, tables.outbox, tables.intents]],
        )
      ).rows.map((r) => ({ table: r.relname, seq: Number(r.seq_scan), index: Number(r.idx_scan ?? 0) }));
    const recordLookups = () => scans().then((all) => all.find((t) => t.table === tables.records)!.index);
    await expect.poll(recordLookups, { timeout: 10_000 }).toBeGreaterThanOrEqual(40);
    const before = await scans();
    // One connection: every call below reuses the plans its first calls made.
    const s = store({ poolSize: 1 });
    for (let i = 0; i < 40; i++) await s.writeChanges([put(`w${i}`), put(`v${i}`)], T0);
    for (let i = 0; i < 10; i++) await syncPut(s, `s${i}`);
    for (const pair of [leases.slice(0, 20), leases.slice(20)])
      expect(
        await s.ackOutbox(
          pair.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
          T0,
        ),
      ).toEqual(pair.map(() => 'acked'));
    await s.close(); // the session's statistics are flushed when it ends
    const lookupsBefore = before.find((t) => t.table === tables.records)!.index;
    await expect.poll(recordLookups, { timeout: 10_000 }).toBeGreaterThanOrEqual(lookupsBefore + 100);
    const after = await scans();
    for (const table of after)
      expect(table.seq, `sequential scans of ${table.table}`).toBe(
        before.find((t) => t.table === table.table)!.seq,
      );
  });

  it('ids sharing an advisory lock key never deadlock multi-id writes (locks go in key order, not id order)', async () => {
    // a < b < c with key(a) = key(c): in id order, writers of [a, b] and [b, c] took key(a), key(b) and
    // key(b), key(a) — 17 of 200 sync-2pc calls died with 40P01 in a break-it trial.
    const s = store({ poolSize: 8 });
    await s.init();
    const key = (id: string) => createHash('sha256').update(id).digest().readInt32BE(0);
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let n = 0; pair === undefined; n++) {
      const id = `doc-${n}`;
      const other = seen.get(key(id));
      if (other === undefined) seen.set(key(id), id);
      else pair = [other, id].sort() as [string, string];
    }
    const [a, c] = pair;
    const b = `${a} mid`;
    expect(a < b && b < c && key(a) === key(c) && key(b) !== key(a)).toBe(true);
    const put = (id: string, i: number): Change => ({
      op: 'put',
      record: { id, text: `text ${i}`, metadata: {}, embedding: [i, 1] },
    });
    const loop = async (ids: string[], path: 'writeChanges' | 'transaction' | 'prepareIntents') => {
      for (let i = 0; i < 100; i++) {
        const changes = ids.map((id) => put(id, i));
        if (path === 'writeChanges') await s.writeChanges(changes, T0 + i);
        else if (path === 'transaction')
          await s.transaction((tx) => writeChangesWithOutbox(tx, changes, T0 + i));
        else
          await s.prepareIntents(
            changes,
            ids.map(() => randomUUID()),
            T0 + i,
          );
      }
    };
    for (const path of ['writeChanges', 'transaction', 'prepareIntents'] as const)
      await expect(
        Promise.all([loop([a, b], path), loop([b, c], path), loop([a, b], path), loop([b, c], path)]),
        path,
      ).resolves.toBeDefined();
  });

  it('an ack waits for a writer holding its ids in the opposite order, without deadlocking', async () => {
    const api = store();
    const worker = store();
    await api.init();
    await api.transaction(async (tx) => {
      await write0(tx, 'a');
      await write0(tx, 'b');
    });
    const leases = await worker.claimOutbox({ owner: 'w', limit: 10, leaseMs: 60_000, now: T0 });
    expect(leases.map((l) => l.recordId).sort()).toEqual(['a', 'b']);

    const locked = gate();
    const release = gate();
    const writing = api.transaction(async (tx) => {
      await tx.getRecord('b');
      await tx.getRecord('a');
      locked.open();
      await release.promise;
      await write0(tx, 'b', 'b again');
      await write0(tx, 'a', 'a again');
    });
    await locked.promise;
    let acked = false;
    const acking = worker
      .ackOutbox(
        leases.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
        T0 + 1,
      )
      .finally(() => {
        acked = true;
      });
    await new Promise((r) => setTimeout(r, 150));
    expect(acked, 'the ack waits while the writer holds the ids').toBe(false);
    release.open();
    await writing;
    expect(await acking, 'the writer enqueued newer versions first').toEqual(['superseded', 'superseded']);
    const again = await worker.claimOutbox({ owner: 'w', limit: 10, leaseMs: 60_000, now: T0 + 2 });
    expect(again.map((l) => l.recordId).sort()).toEqual(['a', 'b']);
  });

  it('an ack never deadlocks an application transaction that takes its ids in the other order', async () => {
    const api = store();
    const worker = store();
    await api.init();
    const lockKey = (id: string): number =>
      (api as unknown as { q: { lockKey(id: string): number } }).q.lockKey(id);
    const [low, high] = ['p', 'q'].sort((x, y) => lockKey(x) - lockKey(y));
    await api.transaction(async (tx) => {
      await write0(tx, low!);
      await write0(tx, high!);
    });
    const leases = await worker.claimOutbox({ owner: 'w', limit: 10, leaseMs: 60_000, now: T0 });
    const locked = gate();
    const release = gate();
    // The application holds the higher key and then wants the lower one: an ack that held the lower key while
    // waiting for the higher would close a cycle.
    const writing = api.transaction(async (tx) => {
      await tx.getRecord(high!);
      locked.open();
      await release.promise;
      await write0(tx, low!, 'low again');
    });
    await locked.promise;
    const acking = worker.ackOutbox(
      leases.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
      T0 + 1,
    );
    // Past the try-lock window (TRY_LOCK_WINDOW_MS), where the ack used to wait for both locks in key order.
    await new Promise((r) => setTimeout(r, 700));
    release.open();
    await writing;
    const outcomes = await acking;
    const byId = new Map(leases.map((l, i) => [l.recordId, outcomes[i]]));
    expect(byId.get(low!), 'the writer enqueued a newer version of the lower id first').toBe('superseded');
    expect(byId.get(high!)).toBe('acked');
  });

  it('refuses an ack whose applied version is not a safe integer, before writing anything', async () => {
    const s = store();
    await s.init();
    await write(s, 'a');
    const [lease] = await s.claimOutbox({ owner: 'w', limit: 10, leaseMs: 60_000, now: T0 });
    for (const appliedVersion of [2 ** 53 + 2, 1.5, Number.NaN])
      await expect(
        s.ackOutbox([{ recordId: 'a', leaseToken: lease!.leaseToken, appliedVersion }], T0 + 1),
      ).rejects.toMatchObject({ code: 'VALIDATION', field: 'acks[0].appliedVersion' });
    expect(await s.getOutboxEntry('a'), 'the entry is still there').toBeDefined();
    expect((await s.getRecords(['a'])).get('a')?.syncedVersion).toBeNull();
  });

  it("migrates a schema holding another function named like one of the store's, and leaves that one alone", async () => {
    await adminQuery(`CREATE SCHEMA "${fixture.schema}"`);
    await adminQuery(
      `CREATE FUNCTION "${fixture.schema}".dw_write_changes(x int) RETURNS int LANGUAGE sql AS 'SELECT x'`,
    );
    const s = store();
    await s.init();
    const { rows } = await adminQuery<{ proconfig: string[] | null }>(
      `SELECT p.proconfig FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
       WHERE n.nspname = $1 AND p.proname = 'dw_write_changes' ORDER BY p.pronargs`,
      [fixture.schema],
    );
    expect(rows.map((r) => (r.proconfig ?? []).includes('enable_seqscan=off'))).toEqual([
      false,
      true,
      true,
      true,
    ]);
    await write(s, 'a');
  });

  it('acks the same id twice in one call in order, like the SQLite store (acked, then lease-lost + repair)', async () => {
    const s = store();
    await s.init();
    const [va] = await s.transaction(async (tx) => [await write0(tx, 'a'), await write0(tx, 'b')]);
    const leases = await s.claimOutbox({ owner: 'w', limit: 10, leaseMs: 60_000, now: T0 });
    const a = leases.find((l) => l.recordId === 'a')!;
    const b = leases.find((l) => l.recordId === 'b')!;
    const ack = (l: typeof a) => ({
      recordId: l.recordId,
      leaseToken: l.leaseToken,
      appliedVersion: l.version,
    });
    expect(await s.ackOutbox([ack(a), ack(b), ack(a)], T0 + 1)).toEqual(['acked', 'acked', 'lease-lost']);
    expect(await s.getOutboxEntry('a'), 'the late duplicate enqueued a repair').toMatchObject({
      op: 'upsert',
      version: va,
      state: 'pending',
    });
    expect(await s.getOutboxEntry('b')).toBeUndefined();
    expect((await s.getRecords(['a', 'b'])).get('b')!.syncedVersion).toBe(b.version);
  });

  it('maps a lock held past lockTimeoutMs to TransientBackendError, and recovers', async () => {
    const holder = store();
    const waiter = store({ lockTimeoutMs: 100 });
    await holder.init();
    await write(holder, 'x');
    const locked = gate();
    const release = gate();
    const holding = holder.transaction(async (tx) => {
      await tx.getRecord('x');
      locked.open();
      await release.promise;
    });
    await locked.promise;
    const error = await waiter.transaction((tx) => tx.getRecord('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientBackendError);
    expect(error).toMatchObject({ component: 'postgres', retryable: true });
    expect(postgresErrorCode((error as Error).cause)).toBe('55P03');
    expect((await waiter.getRecords(['x'])).size, 'plain reads never wait').toBe(1);
    release.open();
    await holding;
    expect((await waiter.transaction((tx) => tx.getRecord('x')))?.id).toBe('x');
  });

  it('init() waits for a migration in another process up to lockTimeoutMs (TransientBackendError), then migrates', async () => {
    await adminQuery(`CREATE SCHEMA "${fixture.schema}"`); // so the migrator's own transaction is what waits
    const waiter = store({ lockTimeoutMs: 200 });
    const holder = new pg.Client({ connectionString: DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(waiter.tableNames)]);
      const started = Date.now();
      const error = await waiter.init().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientBackendError);
      expect(postgresErrorCode((error as Error).cause)).toBe('55P03');
      expect(Date.now() - started, 'bounded by lockTimeoutMs, not the server default').toBeLessThan(5_000);
      await holder.query('COMMIT');
      await waiter.init();
      expect(await waiter.countRecords()).toBe(0);
    } finally {
      await holder.end();
    }
  });

  it('reports an unreachable server and a missing database as BackendUnavailableError', async () => {
    const down = new PostgresRelationalStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/test',
      connectTimeoutMs: 2_000,
    });
    open.push(down);
    const refused = await down.init().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackendUnavailableError);
    expect(refused).toMatchObject({ component: 'postgres', retryable: true });
    await expect(down.subscribeOutbox(() => {})).rejects.toBeInstanceOf(BackendUnavailableError);

    const missing = new PostgresRelationalStore({
      connectionString: DATABASE_URL.replace(/\/[^/]*$/, '/dw_no_such_database'),
    });
    open.push(missing);
    const error = await missing.countRecords().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(postgresErrorCode((error as Error).cause)).toBe('3D000');
  });

  it('survives the server terminating its connections', async () => {
    const applicationName = `dw-kill-${Math.random().toString(36).slice(2, 8)}`;
    const s = store({ pool: { application_name: applicationName } });
    await s.init();
    await write(s, 'before');
    await Promise.all([s.countRecords(), s.countRecords(), s.countRecords()]); // several pooled connections
    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
      applicationName,
    ]);
    await new Promise((r) => setTimeout(r, 100));
    const outcomes: unknown[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await s.countRecords().catch((e: unknown) => e));
    for (const o of outcomes.filter((x) => typeof x !== 'number'))
      expect(o, 'a failure on a dead connection is an outage').toBeInstanceOf(BackendUnavailableError);
    expect(outcomes.at(-1)).toBe(1);
    expect(await write(s, 'after')).toBeGreaterThan(0);
  });

  it('a server that is not PostgreSQL, or refuses the TLS asked for, fails init() with a typed error', async () => {
    // A server on the port that answers PostgreSQL's first message with something else: a MySQL-style greeting,
    // or `N` (no TLS) to the SSL request node-postgres sends first under sslmode=require.
    const server = net.createServer((socket) => {
      socket.once('data', (first) => {
        const sslRequest = first.length === 8 && first.readInt32BE(4) === 80877103;
        socket.write(sslRequest ? 'N' : Buffer.from('4a0000000a352e352e352d31302e31312e31', 'hex'));
        if (!sslRequest) socket.end();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const initError = (connectionString: string) =>
        new PostgresRelationalStore({ connectionString, connectTimeoutMs: 2_000 })
          .init()
          .catch((e: unknown) => e);
      expect(await initError(`postgres://u@127.0.0.1:${port}/test`)).toBeInstanceOf(BackendUnavailableError);
      const tls = await initError(`postgres://u@127.0.0.1:${port}/test?sslmode=require`);
      expect(tls).toBeInstanceOf(PermanentBackendError);
      expect(tls).toMatchObject({
        retryable: false,
        message: expect.stringContaining('does not support SSL'),
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('maps SQLSTATEs and socket errors', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ['40001', '40P01', '55P03', '57014'])
      expect(mapPostgresError(err(code), 'x'), code).toBeInstanceOf(TransientBackendError);
    for (const code of ['08006', '08001', '57P01', '57P03', '53100', '3D000', 'ECONNREFUSED', 'ETIMEDOUT'])
      expect(mapPostgresError(err(code), 'x'), code).toBeInstanceOf(BackendUnavailableError);
    expect(mapPostgresError(new Error('Connection terminated unexpectedly'), 'x')).toBeInstanceOf(
      BackendUnavailableError,
    );
    expect(mapPostgresError(new Error('Query read timeout'), 'x'), 'pool.query_timeout').toBeInstanceOf(
      BackendUnavailableError,
    );
    const refused = new AggregateError([err('ECONNREFUSED'), err('ECONNREFUSED')], '');
    expect(mapPostgresError(refused, 'x')).toBeInstanceOf(BackendUnavailableError);
    const unique = err('23505');
    expect(mapPostgresError(unique, 'x'), 'constraint violations pass through').toBe(unique);
  });

  it('lets the application write its own tables in the same transaction via tx.native', async () => {
    const s = store();
    await s.init();
    const notes = sql.id(fixture.schema, 'app_notes');
    await sql`CREATE TABLE ${notes} (id text PRIMARY KEY, note text)`.execute(s.kysely);
    await s.transaction(async (tx) => {
      await write0(tx, 'n1');
      await tx.native
        .withSchema(fixture.schema)
        .insertInto('app_notes')
        .values({ id: 'n1', note: 'hi' })
        .execute();
    });
    await expect(
      s.transaction(async (tx) => {
        await write0(tx, 'n2');
        await tx.native
          .withSchema(fixture.schema)
          .insertInto('app_notes')
          .values({ id: 'n2', note: 'no' })
          .execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const rows = await s.kysely.withSchema(fixture.schema).selectFrom('app_notes').select('id').execute();
    expect(rows.map((n) => n.id)).toEqual(['n1']);
    expect([...(await s.getRecords(['n1', 'n2'])).keys()]).toEqual(['n1']);
    expect(await s.getOutboxEntry('n2')).toBeUndefined();
  });

  it('refuses store calls inside its own transaction', async () => {
    const s = store();
    await s.init();
    await expect(s.transaction(() => s.getRecords(['x']))).rejects.toThrow(/inside transaction\(\)/);
    await expect(s.transaction(() => s.transaction(async () => 1))).rejects.toThrow(/inside transaction\(\)/);
    expect(await s.countRecords()).toBe(0);
  });

  it('isolates stores with different table prefixes in one schema', async () => {
    const a = store({ tablePrefix: 'a_' });
    const b = store({ tablePrefix: 'b_' });
    await Promise.all([a.init(), b.init()]);
    await write(a, 'only-in-a');
    expect(await a.countRecords()).toBe(1);
    expect(await b.countRecords()).toBe(0);
    expect(await b.claimOutbox({ owner: 'w', limit: 10, leaseMs: 1_000, now: T0 })).toEqual([]);
    expect(a.tableNames.notifyChannel).toBe(`${fixture.schema}.a_outbox`);
  });

  it('claims under a REPEATABLE READ default isolation skip each other, never fail (found by a break-it trial)', async () => {
    const strict = { pool: { options: '-c default_transaction_isolation=repeatable\\ read' } };
    const [a, b] = [store(strict), store(strict)];
    await a.init();
    const ids = Array.from({ length: 1_000 }, (_, i) => `rr-${i}`);
    await a.writeChanges!(
      ids.map((id) => ({ op: 'put' as const, record: { id, text: 't', metadata: {}, embedding: [1] } })),
      T0,
    );
    const claimed: string[] = [];
    const errors: unknown[] = [];
    await Promise.all(
      [a, a, b, b].map(async (s, k) => {
        for (;;) {
          const leases = await s
            .claimOutbox({ owner: `w${k}`, limit: 20, leaseMs: 60_000, now: T0 + 1 })
            .catch((e: unknown) => {
              errors.push(e);
              return undefined;
            });
          if (leases?.length === 0) return;
          claimed.push(...(leases ?? []).map((l) => l.recordId));
        }
      }),
    );
    expect(errors).toEqual([]);
    expect(claimed.sort()).toEqual([...ids].sort());
  });

  it('validates options, limits, and text and ids PostgreSQL cannot store', async () => {
    expect(() => new PostgresRelationalStore({})).toThrow(ValidationError);
    expect(
      () => new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: 'bad-schema' }),
    ).toThrow(ValidationError);
    expect(() => new PostgresRelationalStore({ connectionString: DATABASE_URL, tablePrefix: 'x;' })).toThrow(
      ValidationError,
    );
    expect(() => new PostgresRelationalStore({ connectionString: DATABASE_URL, poolSize: 0 })).toThrow(
      ValidationError,
    );
    expect(() => new PostgresRelationalStore({ connectionString: DATABASE_URL, lockTimeoutMs: -1 })).toThrow(
      ValidationError,
    );
    for (const notifyCoalesceMs of [-1, 60_001, 2.5])
      expect(() => new PostgresRelationalStore({ connectionString: DATABASE_URL, notifyCoalesceMs })).toThrow(
        'options.notifyCoalesceMs: must be an integer in 0..60000',
      );
    // Found by a break-it trial: a reserved schema name passed here and failed at init() untyped, and a null
    // fell through to the default unnoticed.
    expect(() => new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: 'pg_x' })).toThrow(
      'options.schema',
    );
    for (const field of ['schema', 'tablePrefix', 'poolSize'])
      expect(
        () => new PostgresRelationalStore({ connectionString: DATABASE_URL, [field]: null } as never),
      ).toThrow(`options.${field}: must be omitted for its default, not null`);
    // A number passed as a string is shown as one, so the message does not seem to refuse a valid value.
    expect(
      () =>
        new PostgresRelationalStore({ connectionString: DATABASE_URL, poolSize: '5' as unknown as number }),
    ).toThrow('options.poolSize: must be an integer in 1..1000, got "5"');
    // A misspelled option is refused, naming the one meant (it would otherwise be ignored).
    expect(
      () => new PostgresRelationalStore({ connectionString: DATABASE_URL, poolsize: 5 } as never),
    ).toThrow('invalid options.poolsize: is not an option — did you mean "poolSize"?');
    // Found by a break-it round: keys inside `pool` went to node-postgres unchecked (a typo fell back to the
    // default unnoticed), a bad `pool.max` was reported as `options.poolSize`, and a store in
    // `information_schema` started fine but pg_dump leaves that schema out of every backup.
    expect(
      () =>
        new PostgresRelationalStore({
          pool: { connectionString: DATABASE_URL, idleTimeoutMilis: 5 } as never,
        }),
    ).toThrow('invalid options.pool.idleTimeoutMilis: is not an option — did you mean "idleTimeoutMillis"?');
    expect(() => new PostgresRelationalStore({ pool: { connectionString: DATABASE_URL, max: 0 } })).toThrow(
      'options.pool.max: must be an integer in 1..1000',
    );
    expect(
      () => new PostgresRelationalStore({ connectionString: DATABASE_URL, schema: 'information_schema' }),
    ).toThrow('options.schema: must not be "information_schema"');
    expect(
      () =>
        new PostgresRelationalStore({
          pool: {
            connectionString: DATABASE_URL,
            idleTimeoutMillis: 5,
            ssl: false,
            statement_timeout: 0,
            min: 0,
          },
        }),
    ).not.toThrow();
    // Found by a new-user trial: node-postgres resolves these against postgres://base (a host named "base", a
    // retryable ENOTFOUND) or reads a mysql:// URL as its own.
    for (const [connectionString, message] of [
      ['hello world', 'options.connectionString: must be a URL such as postgres://'],
      ['mysql://root@127.0.0.1:3306/test', 'options.connectionString: must use postgres://'],
      ['localhost:5432/test', 'options.connectionString: must use postgres://'],
    ])
      expect(() => new PostgresRelationalStore({ connectionString })).toThrow(message);
    expect(() => new PostgresRelationalStore({ pool: { connectionString: 'http://db/test' } })).toThrow(
      'options.pool.connectionString: must use postgres://',
    );
    for (const connectionString of [
      'postgresql://u@h/db',
      'socket:/var/run/postgresql?db=x',
      '/var/run/postgresql x',
    ])
      expect(() => new PostgresRelationalStore({ connectionString })).not.toThrow();
    const s = store();
    await s.init();
    await expect(s.listRecords!({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(s.listVersions({ limit: 10_001 })).rejects.toBeInstanceOf(ValidationError);
    await expect(s.claimOutbox({ owner: 'w', limit: 1, leaseMs: 0, now: T0 })).rejects.toBeInstanceOf(
      ValidationError,
    );
    const nul = await write(s, 'nul', 'a\u0000b').catch((e: unknown) => e);
    expect(nul).toBeInstanceOf(ValidationError);
    expect(nul).toMatchObject({ field: 'text', component: 'postgres' });
    // The one-statement path refuses it the same way, before anything is written.
    const batch = await s.writeChanges!(
      [{ op: 'put', record: { id: 'nul2', text: 'a\u0000b', metadata: {}, embedding: [1] } }],
      T0,
    ).catch((e: unknown) => e);
    expect(batch).toBeInstanceOf(ValidationError);
    expect(batch).toMatchObject({ field: 'text', component: 'postgres' });
    expect((await s.getRecords(['nul2'], { includeDeleted: true })).size).toBe(0);
    // An id holding U+0000 likewise, on every write path (it was an untyped 22021 from the server: helper-89).
    const nulId = 'n\u0000ul';
    const put = (id: string): Change => ({
      op: 'put',
      record: { id, text: 't', metadata: {}, embedding: [1] },
    });
    for (const attempt of [
      () => write(s, nulId, 't'),
      () => s.writeChanges!([put(nulId)], T0),
      () => s.writeChanges!([{ op: 'delete', id: nulId }], T0),
      () => s.writeChanges!([put('fine'), put(nulId)], T0),
      () => s.prepareIntents!([put(nulId)], ['token'], T0 + 60_000),
    ]) {
      const refused = await attempt().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ValidationError);
      expect(refused).toMatchObject({ field: 'id', component: 'postgres' });
    }
    expect((await s.getRecords(['fine'], { includeDeleted: true })).size).toBe(0);
    // Metadata is stored as `json`, which keeps the \u0000 escape that `jsonb` would reject.
    await s.transaction((tx) => write0(tx, 'meta', 'ok', { weird: 'a\u0000b', order: 1, alpha: true }));
    expect((await s.getRecords(['meta'])).get('meta')!.metadata).toStrictEqual({
      weird: 'a\u0000b',
      order: 1,
      alpha: true,
    });
  });
});
