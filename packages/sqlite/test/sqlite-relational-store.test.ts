import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendUnavailableError, TransientBackendError, ValidationError } from '@dualwrite/core';
import { checkStoreFromEarlierRelease, relationalStoreSuite } from '@dualwrite/core/testing';
import {
  checkCacheExpiryUpgrade,
  checkForeignTableRefused,
  checkFractionalClock,
  checkMissingSchema,
  checkSchemaFromNewerRelease,
  writeTestRecord,
} from '@dualwrite/sql/testing';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  mapSqliteError,
  SQLITE_SCHEMA_VERSION,
  type SqliteKysely,
  SqliteRelationalStore,
  sqliteMigrations,
  sqliteTableNames,
} from '../src/index.js';
import { sqliteFactory, tempDir } from './helpers.js';

relationalStoreSuite('sqlite', sqliteFactory(), { sql: true });

const T0 = 1_700_000_000_000;

async function write(store: SqliteRelationalStore, id: string, text = `text of ${id}`): Promise<number> {
  return store.transaction(async (tx) => {
    const version = await tx.nextVersion();
    await tx.writeRecord({
      id,
      text,
      embedding: [1, 2, 3],
      metadata: { flag: true, n: 1 },
      version,
      deleted: false,
      contentHash: 'h',
      syncedVersion: null,
      now: T0,
    });
    await tx.enqueue(id, version, 'upsert', T0);
    return version;
  });
}

describe('SqliteRelationalStore (SQLite specifics)', () => {
  let dir: string;
  let remove: () => Promise<void>;
  const open: SqliteRelationalStore[] = [];
  const raw: Database.Database[] = [];

  function store(options: Partial<ConstructorParameters<typeof SqliteRelationalStore>[0]> = {}) {
    const s = new SqliteRelationalStore({ path: join(dir, 'db.sqlite'), ...options });
    open.push(s);
    return s;
  }

  beforeEach(async () => {
    ({ dir, remove } = await tempDir());
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const d of raw.splice(0)) if (d.open) d.close();
    await remove();
  });

  it('keeps data across close/reopen; re-running migrations is a no-op', async () => {
    const first = store();
    await first.init();
    const v1 = await write(first, 'kept');
    await first.close();

    const second = store();
    await second.init();
    await second.init();
    expect((await second.getRecords(['kept'])).get('kept')).toMatchObject({
      version: v1,
      metadata: { flag: true, n: 1 },
    });
    const v2 = await write(second, 'next');
    expect(v2, 'the version sequence survives a reopen').toBeGreaterThan(v1);
    const { rows } = await sql<{
      name: string;
    }>`SELECT name FROM ${sql.table(second.tableNames.migrations)}`.execute(second.kysely);
    expect(rows.map((r) => r.name)).toHaveLength(SQLITE_SCHEMA_VERSION);
  });

  it('lets the embedding cache expire on a file the release before wrote', async () => {
    await checkCacheExpiryUpgrade({
      open: () => new SqliteRelationalStore({ path: join(dir, 'db.sqlite') }),
      migrations: sqliteMigrations(sqliteTableNames('dw_')),
      expiry: '0003_embedding_cache_expiry',
    });
  });

  it('runs on a schema a newer release migrated further when it allows, and refuses when it does not', async () => {
    await checkSchemaFromNewerRelease({
      open: () => new SqliteRelationalStore({ path: join(dir, 'db.sqlite') }),
      migrations: sqliteMigrations(sqliteTableNames('dw_')),
    });
  });

  it('a store used before init(), or whose records table was dropped, fails typed and says to call init()', async () => {
    const { dir, remove } = await tempDir();
    try {
      await checkMissingSchema({ open: () => new SqliteRelationalStore({ path: join(dir, 'app.db') }) });
    } finally {
      await remove();
    }
  });

  it("writes whole ms on a caller's clock that counts fractions, readable by every other store", async () => {
    const { dir, remove } = await tempDir();
    try {
      await checkFractionalClock({ open: () => new SqliteRelationalStore({ path: join(dir, 'app.db') }) });
    } finally {
      await remove();
    }
  });

  it('refuses an application table under the name of its records table, before creating anything', async () => {
    const { dir, remove } = await tempDir();
    try {
      await checkForeignTableRefused({
        open: () => new SqliteRelationalStore({ path: join(dir, 'app.db') }),
      });
    } finally {
      await remove();
    }
  });

  it('opens a file written by release 0.1 (its dump) and carries on from its data', async () => {
    const path = join(dir, 'db.sqlite');
    const db = new Database(path);
    db.exec(await readFile(new URL('./fixtures/release-0.1.sql', import.meta.url), 'utf8'));
    db.close();
    const s = store({ path });
    await s.init();
    await checkStoreFromEarlierRelease(s);
  });

  it('migrates a file written by schema version 1 (before the meta table) and keeps its data', async () => {
    const path = join(dir, 'db.sqlite');
    const tables = sqliteTableNames('dw_');
    const v1: SqliteKysely = new Kysely({ dialect: new SqliteDialect({ database: new Database(path) }) });
    const { error } = await new Migrator({
      db: v1,
      provider: {
        getMigrations: async () => ({ '0001_initial': sqliteMigrations(tables)['0001_initial']! }),
      },
      migrationTableName: tables.migrations,
      migrationLockTableName: tables.migrationLock,
    }).migrateToLatest();
    expect(error).toBeUndefined();
    await sql`INSERT INTO dw_records (id, text, embedding, metadata, version, deleted, content_hash, synced_version, created_at, updated_at)
      VALUES ('old', 'from v1', NULL, '{}', 7, 0, 'h', NULL, 1, 1)`.execute(v1);
    await sql`UPDATE dw_sequence SET value = 7 WHERE name = 'version'`.execute(v1);
    await v1.destroy();

    const s = store({ path });
    await s.init();
    expect((await s.getRecords(['old'])).get('old')).toMatchObject({ text: 'from v1', version: 7 });
    expect(await s.currentVersion()).toBe(7);
    expect(await s.getMeta('index-binding')).toBeUndefined();
    await s.setMeta('index-binding', '{}');
    expect(await s.getMeta('index-binding')).toBe('{}');
  });

  it('creates missing directories, or with create: false refuses a file that does not exist', async () => {
    const nested = store({ path: join(dir, 'a', 'b', 'app.db') });
    await nested.init();
    expect(await nested.currentVersion()).toBe(0);
    const missing = store({ path: join(dir, 'nope', 'app.db'), create: false });
    await expect(missing.init()).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringContaining('options.create is false'),
    });
    const existing = store({ path: join(dir, 'a', 'b', 'app.db'), create: false });
    await existing.init();
  });

  it('uses WAL, synchronous=NORMAL, foreign_keys=ON and the busy timeout', async () => {
    const s = store({ busyTimeoutMs: 1234 });
    await s.init();
    const pragma = async (name: string) =>
      Object.values((await sql.raw(`PRAGMA ${name}`).execute(s.kysely)).rows[0] as object)[0];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('synchronous')).toBe(1);
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('busy_timeout')).toBe(1234);
    const other = new Database(join(dir, 'db.sqlite'));
    raw.push(other);
    expect(other.pragma('journal_mode', { simple: true }), 'WAL is persistent in the file').toBe('wal');
  });

  it('maps a held write lock to TransientBackendError and recovers once it is released', async () => {
    const s = store({ busyTimeoutMs: 20 });
    await s.init();
    await write(s, 'a');
    const locker = new Database(join(dir, 'db.sqlite'));
    raw.push(locker);
    locker.prepare('BEGIN IMMEDIATE').run();
    const error = await s.transaction(async () => 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientBackendError);
    expect(error).toMatchObject({ component: 'sqlite', retryable: true });
    await expect(s.claimOutbox({ owner: 'w', limit: 1, leaseMs: 1_000, now: T0 })).rejects.toBeInstanceOf(
      TransientBackendError,
    );
    await expect(s.markSynced!('a', 1)).rejects.toBeInstanceOf(TransientBackendError);
    expect((await s.getRecords(['a'])).size, 'reads still work under WAL').toBe(1);
    locker.prepare('ROLLBACK').run();
    expect(await s.transaction(async () => 2)).toBe(2);
    expect(await s.claimOutbox({ owner: 'w', limit: 1, leaseMs: 1_000, now: T0 })).toHaveLength(1);
  });

  it('delivers batches of every size on a few prepared statements, each id acked once', async () => {
    const db = new Database(join(dir, 'db.sqlite'));
    raw.push(db);
    const prepared = new Set<string>();
    const prepare = db.prepare.bind(db);
    db.prepare = ((source: string) => {
      prepared.add(source);
      return prepare(source);
    }) as typeof db.prepare;
    const s = new SqliteRelationalStore({ database: db });
    open.push(s);
    await s.init();
    const ids = Array.from({ length: (70 * 71) / 2 }, (_, i) => `r${i}`);
    for (const id of ids) await write(s, id);
    const before = prepared.size;
    for (let size = 1; size <= 70; size++) {
      const leases = await s.claimOutbox({ owner: 'w', limit: size, leaseMs: 60_000, now: T0 });
      expect(leases).toHaveLength(size);
      await s.getRecords(leases.map((l) => l.recordId));
      const outcomes = await s.ackOutbox(
        leases.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
        T0,
      );
      expect(outcomes).toEqual(leases.map(() => 'acked'));
    }
    expect((await s.outboxStats(T0)).depth).toBe(0);
    const synced = await s.getRecords(ids);
    expect([...synced.values()].every((r) => r.syncedVersion === r.version)).toBe(true);
    // Id lists padded to powers of two: 8 lengths (1 … 128) per statement, not one statement per size.
    expect(prepared.size - before).toBeLessThan(60);
  });

  it('writeChanges while a transaction of the store is open waits for it, then writes after it', async () => {
    const s = store();
    await s.init();
    let begun!: () => void;
    const inside = new Promise<void>((resolve) => {
      begun = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transaction = s.transaction(async (tx) => {
      const version = await tx.nextVersion();
      begun();
      await gate;
      return version;
    });
    try {
      await inside;
      let settled = false;
      const put = { op: 'put' as const, record: { id: 'b', text: 'b', embedding: [1, 2, 3], metadata: {} } };
      const written = s.writeChanges([put], T0).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(settled, 'it must not write inside the open transaction').toBe(false);
      release();
      const drawn = await transaction;
      const [result] = await written;
      expect(result).toMatchObject({ id: 'b', changed: true });
      expect(result!.version).toBeGreaterThan(drawn);
      expect((await s.getRecords(['b'])).get('b')).toMatchObject({ text: 'b', version: result!.version });
    } finally {
      release();
    }
  });

  it('reports an unopenable path as BackendUnavailableError', async () => {
    await writeFile(join(dir, 'blocker'), 'a file where a directory should be');
    const s = store({ path: join(dir, 'blocker', 'dir', 'db.sqlite') });
    const error = await s.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error).toMatchObject({ component: 'sqlite' });
  });

  it('refuses a path that is a directory with a ValidationError naming options.path', async () => {
    const error = await store({ path: dir })
      .init()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'options.path' });
    expect((error as Error).message).toContain(`${JSON.stringify(dir)} is a directory`);
  });

  it('maps SQLite result codes', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(mapSqliteError(err('SQLITE_BUSY_SNAPSHOT'), 'x')).toBeInstanceOf(TransientBackendError);
    expect(mapSqliteError(err('SQLITE_LOCKED'), 'x')).toBeInstanceOf(TransientBackendError);
    for (const code of ['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN', 'SQLITE_READONLY_DBMOVED'])
      expect(mapSqliteError(err(code), 'x'), code).toBeInstanceOf(BackendUnavailableError);
    const constraint = err('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(mapSqliteError(constraint, 'x')).toBe(constraint);
  });

  it('lets the application write its own tables in the same transaction via tx.native', async () => {
    const s = store();
    await s.init();
    await sql`CREATE TABLE app_notes (id TEXT PRIMARY KEY, note TEXT)`.execute(s.kysely);
    await s.transaction(async (tx) => {
      await write0(tx, 'n1');
      await tx.native.insertInto('app_notes').values({ id: 'n1', note: 'hello' }).execute();
    });
    await expect(
      s.transaction(async (tx) => {
        await write0(tx, 'n2');
        await tx.native.insertInto('app_notes').values({ id: 'n2', note: 'rolled back' }).execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const notes = await s.kysely.selectFrom('app_notes').select('id').execute();
    expect(notes.map((n) => n.id)).toEqual(['n1']);
    expect([...(await s.getRecords(['n1', 'n2'])).keys()]).toEqual(['n1']);
  });

  it('refuses store calls inside its own transaction instead of deadlocking', async () => {
    const s = store();
    await s.init();
    await expect(s.transaction(() => s.getRecords(['x']))).rejects.toThrow(/inside transaction\(\)/);
    await expect(s.transaction(() => s.transaction(async () => 1))).rejects.toThrow(/inside transaction\(\)/);
    expect(await s.countRecords()).toBe(0);
  });

  it('isolates stores with different table prefixes in one file; works on :memory: and a given Database', async () => {
    const a = store({ tablePrefix: 'a_' });
    const b = store({ tablePrefix: 'b_' });
    await a.init();
    await b.init();
    await write(a, 'only-in-a');
    expect(await a.countRecords()).toBe(1);
    expect(await b.countRecords()).toBe(0);

    const memory = store({ path: ':memory:' });
    await memory.init();
    await write(memory, 'm');
    expect(await memory.countRecords()).toBe(1);

    const db = new Database(join(dir, 'given.sqlite'));
    raw.push(db);
    const given = new SqliteRelationalStore({ database: db });
    open.push(given);
    await given.init();
    await write(given, 'g');
    await given.close();
    expect(db.open, 'a Database passed in stays open').toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM dw_records').get()).toEqual({ n: 1 });
  });

  it('validates options and limits', async () => {
    expect(() => new SqliteRelationalStore({})).toThrow(ValidationError);
    expect(() => new SqliteRelationalStore({ path: 'x', tablePrefix: 'bad-prefix' })).toThrow(
      ValidationError,
    );
    expect(() => new SqliteRelationalStore({ path: 'x', busyTimeoutMs: -1 })).toThrow(ValidationError);
    // SQLite reserves "sqlite_*" (init() failed with "object name reserved for internal use"), and a URL is not
    // a path (better-sqlite3 created a directory named "sqlite:.").
    expect(() => new SqliteRelationalStore({ path: 'x', tablePrefix: 'sqlite_' })).toThrow(
      'invalid options.tablePrefix: must not start with "sqlite_"',
    );
    for (const path of ['sqlite:./data/x.db', 'file:./data/y.db', 'sqlite3:///tmp/z.db'])
      expect(() => new SqliteRelationalStore({ path }), path).toThrow(
        'invalid options.path: must be a file path, not a URL',
      );
    expect(() => new SqliteRelationalStore({ path: 'x', busy_timeout_ms: 100 } as never)).toThrow(
      'invalid options.busy_timeout_ms: is not an option — did you mean "busyTimeoutMs"?',
    );
    const s = store();
    await s.init();
    await expect(s.listRecords!({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(s.listVersions({ limit: 10_001 })).rejects.toBeInstanceOf(ValidationError);
  });
});

async function write0(
  tx: Parameters<Parameters<SqliteRelationalStore['transaction']>[0]>[0],
  id: string,
): Promise<void> {
  await tx.enqueue(id, await writeTestRecord(tx, id, T0), 'upsert', T0);
}
