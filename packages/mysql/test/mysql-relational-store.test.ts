import { BackendUnavailableError, planOne, TransientBackendError, ValidationError } from '@dualwrite/core';
import { relationalStoreSuite } from '@dualwrite/core/testing';
import {
  checkCacheExpiryUpgrade,
  checkCaughtDeadlock,
  checkForeignTableRefused,
  checkFractionalClock,
  checkMissingSchema,
  checkSchemaFromNewerRelease,
} from '@dualwrite/sql/testing';
import { sql } from 'kysely';
import { createConnection } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LOCK_SLOTS,
  MYSQL_SCHEMA_VERSION,
  MysqlRelationalStore,
  type MysqlRelationalStoreOptions,
  mysqlMigrations,
  mysqlTableNames,
} from '../src/index.js';
import { adminQuery, MYSQL_SERVER_URL, mysqlFactory, testDatabase } from './helpers.js';

relationalStoreSuite('mysql', mysqlFactory(), { sql: true });

const write = (id: string, text: string) => ({
  id,
  text,
  embedding: null,
  metadata: {},
  deleted: false,
  contentHash: `h-${text.length}`,
  syncedVersion: null,
  now: 1_000,
});

describe('MysqlRelationalStore (MySQL specifics)', () => {
  const cleanups: (() => Promise<void>)[] = [];

  async function store(options: Partial<MysqlRelationalStoreOptions> = {}, database?: { url: string }) {
    const db = database ?? (await testDatabase());
    const s = new MysqlRelationalStore({ connectionString: db.url, poolSize: 4, ...options });
    cleanups.push(async () => {
      await s.close();
      if (database === undefined) await (db as Awaited<ReturnType<typeof testDatabase>>).drop();
    });
    await s.init();
    return s;
  }

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('the version sequence stays pruned under batch writes (their versions rarely end on a multiple of 1,024)', async () => {
    const s = await store();
    await s.writeChanges(
      [{ op: 'put', record: { id: 'first', text: 't', metadata: {}, embedding: [1, 0] } }],
      1,
    );
    for (let batch = 0; batch < 8; batch++)
      await s.writeChanges(
        Array.from({ length: 500 }, (_, i) => ({
          op: 'put' as const,
          record: { id: `b${batch}-${i}`, text: 't', metadata: {}, embedding: [1, 0] },
        })),
        2 + batch,
      );
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM dw_version_seq`.execute(s.kysely);
    // 4,001 versions drawn (all of them stayed before); a prune keeps the newest 1,025, and the next comes
    // within 1,024 more versions.
    expect(Number(rows[0]!.n)).toBeLessThanOrEqual(2 * 1_024 + 1);
  });

  /**
   * The server's `max_allowed_packet` and puts of 1 MiB of 2-byte characters each, together past it (17 × 1 MiB
   * dropped the connection), ids in code-point order.
   */
  async function pastThePacket(s: MysqlRelationalStore) {
    const { rows } = await sql<{ m: number }>`SELECT @@max_allowed_packet AS m`.execute(s.kysely);
    const packet = Number(rows[0]!.m);
    const text = 'é'.repeat(512 * 1024);
    const changes = Array.from({ length: Math.ceil(packet / (1024 * 1024)) + 1 }, (_, i) => ({
      op: 'put' as const,
      record: { id: `big-${String(i).padStart(3, '0')}`, text, metadata: {}, embedding: [1, 0] },
    }));
    return { packet, text, changes };
  }

  it('a batch larger than max_allowed_packet is split by size; a record no message can carry is a ValidationError', async () => {
    const s = await store();
    const { packet, text, changes } = await pastThePacket(s);
    const n = changes.length;
    const results = await s.writeChanges(changes, 1);
    expect(results.every((r) => r.changed)).toBe(true);
    const last = changes[n - 1]!.record.id;
    expect((await s.getRecords([last])).get(last)?.text).toBe(text);
    const huge = {
      op: 'put' as const,
      record: { id: 'huge', text: 'x'.repeat(packet), metadata: {}, embedding: [1, 0] },
    };
    await expect(s.writeChanges([huge], 2)).rejects.toMatchObject({ code: 'VALIDATION', field: 'text' });
    expect((await s.getRecords(['huge'])).size).toBe(0);
  });

  it('a record just under max_allowed_packet is written or refused with a ValidationError — by the batch write and by the transaction path — never sent to be dropped', async () => {
    const s = await store();
    const { packet } = await pastThePacket(s);
    for (const margin of [600, 1_200, 1_900, 2_600, 3_500]) {
      const record = {
        id: `edge-${margin}`,
        text: 'x'.repeat(packet - margin),
        metadata: {},
        embedding: [1, 0],
      };
      const outcome = await s.writeChanges([{ op: 'put', record }], 1).then(
        () => 'written',
        (error: unknown) => error,
      );
      if (outcome !== 'written')
        expect(outcome, `writeChanges, ${margin} under`).toMatchObject({ code: 'VALIDATION', field: 'text' });
      const viaTx = await s
        .transaction(async (tx) => {
          await tx.writeRecord({
            ...record,
            id: `tx-${margin}`,
            version: await tx.nextVersion(),
            deleted: false,
            contentHash: '',
            syncedVersion: null,
            now: 1,
          });
        })
        .then(
          () => 'written',
          (error: unknown) => error,
        );
      if (viaTx !== 'written')
        expect(viaTx, `tx.writeRecord, ${margin} under`).toMatchObject({ code: 'VALIDATION', field: 'text' });
    }
  });

  it("sync-2pc's commit is split by size too; its prepare refuses what no message can carry, before anything is written", async () => {
    const s = await store();
    const { packet, text, changes } = await pastThePacket(s);
    const tokens = changes.map((_, i) => `token-${i}`);
    const prepared = await s.prepareIntents(changes, tokens, 10_000);
    const writes = changes.map((c, i) => {
      const plan = planOne(c, prepared[i]!.previous, 2);
      return {
        token: tokens[i]!,
        next: { ...plan.next!, version: prepared[i]!.version },
        op: plan.op,
        previousVersion: null,
        contended: prepared[i]!.contended,
      };
    });
    await s.commitIntents(writes, { now: 2, deferred: false, dropTokens: [] });
    const stored = await s.getRecords(changes.map((c) => c.record.id));
    expect([...stored.values()].map((r) => [r.text === text, r.syncedVersion === r.version])).toEqual(
      changes.map(() => [true, true]),
    );
    expect(await s.listExpiredIntents(Number.MAX_SAFE_INTEGER, 100)).toEqual([]);
    const huge = {
      op: 'put' as const,
      record: { id: 'huge', text: 'x'.repeat(packet), metadata: {}, embedding: [1, 0] },
    };
    await expect(s.prepareIntents([huge], ['t-huge'], 10_000)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'text',
    });
    const longId = {
      op: 'put' as const,
      record: { id: '한'.repeat(600), text: 't', metadata: {}, embedding: [1, 0] },
    };
    await expect(s.prepareIntents([longId], ['t-long'], 10_000)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'id',
    });
    expect(await s.listExpiredIntents(Number.MAX_SAFE_INTEGER, 100)).toEqual([]);
  });

  it("sync-2pc's prepare and commit of 1,200 ids (three messages each way) match the transaction path's rule", async () => {
    const s = await store();
    expect(await s.prepareIntents([], [], 10_000)).toEqual([]);
    await s.writeChanges(
      [{ op: 'put', record: { id: 'many-0005', text: 'same', metadata: {}, embedding: [1, 0] } }],
      1,
    );
    const changes = Array.from({ length: 1_200 }, (_, i) => ({
      op: 'put' as const,
      record: { id: `many-${String(i).padStart(4, '0')}`, text: 'same', metadata: {}, embedding: [1, 0] },
    }));
    const tokens = changes.map((_, i) => `many-token-${i}`);
    const prepared = await s.prepareIntents(changes, tokens, 10_000);
    expect(new Set(prepared.map((p) => p.version)).size, 'a version each').toBe(1_200);
    expect(prepared.filter((p) => p.contended)).toHaveLength(1); // many-0005 is queued
    const plans = changes.map((c, i) => planOne(c, prepared[i]!.previous, 2));
    const writes = plans.flatMap((plan, i) =>
      plan.next === null
        ? []
        : [
            {
              token: tokens[i]!,
              next: { ...plan.next, version: prepared[i]!.version },
              op: plan.op,
              previousVersion: prepared[i]!.previous?.version ?? null,
              contended: prepared[i]!.contended,
            },
          ],
    );
    expect(writes).toHaveLength(1_199); // many-0005 is a no-op
    await s.commitIntents(writes, { now: 2, deferred: false, dropTokens: [tokens[5]!] });
    expect(await s.listExpiredIntents(Number.MAX_SAFE_INTEGER, 2_000)).toEqual([]);
    expect(await s.countRecords()).toBe(1_200);
    // Uncontended writes are synced; none is queued beyond the one written before.
    expect((await s.outboxStats(3)).depth).toBe(1);
    const stored = await s.getRecords(changes.map((c) => c.record.id));
    expect([...stored.values()].filter((r) => r.syncedVersion === r.version)).toHaveLength(1_199);
  });

  it('an id longer than the id column (1,536 UTF-8 bytes) is a ValidationError on both write paths', async () => {
    const s = await store();
    // 600 code units (core's limit can be raised that far) but 1,800 bytes.
    const id = '한'.repeat(600);
    const put = { op: 'put' as const, record: { id, text: 't', metadata: {}, embedding: [1, 0] } };
    const ok = { op: 'put' as const, record: { id: 'ok', text: 't', metadata: {}, embedding: [1, 0] } };
    // The message names the refused record of a batch (helper-52: the field alone did not say which).
    await expect(s.writeChanges([ok, put], 1)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'id',
      message: expect.stringContaining(`"${'한'.repeat(40)}"… is 1800 UTF-8 bytes`),
    });
    await expect(
      s.transaction(async (tx) => tx.writeRecord({ ...write(id, 't'), version: await tx.nextVersion() })),
    ).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
    expect(await s.countRecords()).toBe(0);
  });

  it('a first start killed half-way (MySQL DDL is not transactional) is finished by the next one', async () => {
    const database = await testDatabase();
    const first = await store({}, database);
    await first.transaction(async (tx) => {
      await tx.writeRecord({ ...write('kept', 'before'), version: await tx.nextVersion() });
    });
    // What a start killed before Kysely recorded its migrations leaves behind: every table and index, no
    // bookkeeping, and the lock slots half filled.
    await sql`DELETE FROM dw_migrations`.execute(first.kysely);
    await sql`DELETE FROM dw_lock_slots WHERE slot >= 30000`.execute(first.kysely);
    const second = await store({}, database);
    const count = async (table: string) =>
      Number(
        (await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(second.kysely))
          .rows[0]!.n,
      );
    expect(await count('dw_lock_slots')).toBe(LOCK_SLOTS);
    expect(await count('dw_migrations')).toBe(MYSQL_SCHEMA_VERSION);
    expect((await second.getRecords(['kept'])).get('kept')?.text).toBe('before');
    const [result] = await second.writeChanges(
      [{ op: 'put', record: { id: 'after', text: 'after', metadata: {}, embedding: [1, 0] } }],
      2_000,
    );
    expect(result).toMatchObject({ id: 'after', changed: true });
  });

  it('lets the embedding cache expire on a database the release before wrote, also after a start killed half-way', async () => {
    for (const killedAfterAddingColumn of [false, true]) {
      const database = await testDatabase();
      cleanups.push(database.drop);
      await checkCacheExpiryUpgrade({
        open: () => new MysqlRelationalStore({ connectionString: database.url, poolSize: 2 }),
        migrations: mysqlMigrations(mysqlTableNames('dw_')),
        expiry: '0003_embedding_cache_expiry',
        killedAfterAddingColumn,
      });
    }
  });

  it('runs on a schema a newer release migrated further when it allows, and refuses when it does not', async () => {
    const database = await testDatabase();
    cleanups.push(database.drop);
    await checkSchemaFromNewerRelease({
      open: () => new MysqlRelationalStore({ connectionString: database.url, poolSize: 2 }),
      migrations: mysqlMigrations(mysqlTableNames('dw_')),
    });
  });

  it('refuses an application table under the name of its records table, before creating anything', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    await checkForeignTableRefused({
      open: () => new MysqlRelationalStore({ connectionString: database.url, poolSize: 2 }),
    });
  });

  it("writes whole ms on a caller's clock that counts fractions, readable by every other store", async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    await checkFractionalClock({
      open: () => new MysqlRelationalStore({ connectionString: database.url, poolSize: 2 }),
    });
  });

  it('a store used before init(), or whose records table was dropped, fails typed and says to call init()', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    await checkMissingSchema({
      open: () => new MysqlRelationalStore({ connectionString: database.url, poolSize: 2 }),
    });
  });

  it('a deadlock the callback caught: the transaction and its later statements fail retryable, nothing of it written', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    await checkCaughtDeadlock({
      open: () => new MysqlRelationalStore({ connectionString: database.url, poolSize: 3 }),
    });
  });

  it('keeps ids that a case- or space-folding collation would merge apart, in a database whose default folds', async () => {
    const name = `dw_test_ci_${Date.now()}`;
    await adminQuery(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    cleanups.push(async () => void (await adminQuery(`DROP DATABASE ${name}`)));
    const s = await store({}, { url: `${MYSQL_SERVER_URL}/${name}` });
    const ids = ['doc', 'Doc', 'DOC', 'doc ', 'dóc', 'straße', 'strasse', '😀', '\u0000x'];
    await s.transaction(async (tx) => {
      for (const id of ids) {
        await tx.writeRecord({
          ...write(id, `text of ${JSON.stringify(id)}`),
          version: await tx.nextVersion(),
        });
      }
    });
    const got = await s.getRecords(ids);
    expect([...got.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) expect(got.get(id)!.text).toBe(`text of ${JSON.stringify(id)}`);
    const listed = (await s.listVersions({ limit: 100 })).map((v) => v.id);
    expect(listed, 'code point order').toEqual(
      [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
  });

  it('serialises read-modify-writes of one new id across two stores (no lost update)', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    const [a, b] = [await store({}, database), await store({}, database)];
    const rounds = 40;
    await Promise.all(
      Array.from({ length: rounds }, (_, i) =>
        (i % 2 ? a : b).transaction(async (tx) => {
          const current = await tx.getRecord('counter');
          const text = `${current?.text ?? ''}${i},`;
          await tx.writeRecord({ ...write('counter', text), version: await tx.nextVersion() });
          await tx.enqueue('counter', (await tx.getRecord('counter'))!.version, 'upsert', 1_000);
        }),
      ),
    );
    const text = (await a.getRecords(['counter'])).get('counter')!.text;
    expect(
      text
        .split(',')
        .filter(Boolean)
        .map(Number)
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: rounds }, (_, i) => i));
  });

  it('two stores putting the same new ids at once (one batch per put) neither deadlock nor lose a write', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    const stores = [await store({}, database), await store({}, database)];
    for (let round = 0; round < 5; round++) {
      const ids = Array.from({ length: 12 }, (_, i) => `r${round}-${i}`);
      const settled = await Promise.allSettled(
        stores.flatMap((s, w) =>
          ids.map((id) =>
            s.writeChanges(
              [{ op: 'put', record: { id, text: `${id} from ${w}`, metadata: {}, embedding: undefined } }],
              1_000,
            ),
          ),
        ),
      );
      // A locking read of absent ids once took a next-key lock and two such batches deadlocked.
      expect(
        settled
          .filter((r) => r.status === 'rejected')
          .map((r) => String((r as PromiseRejectedResult).reason)),
      ).toEqual([]);
      const rows = await stores[0]!.getRecords(ids);
      expect(rows.size).toBe(12);
      const versions = new Set([...rows.values()].map((r) => r.version));
      expect(versions.size, 'each id at its own version').toBe(12);
    }
  });

  it("init() waits for another process's migration up to lockTimeoutMs, and never for another Kysely application's", async () => {
    const [a, b] = [await testDatabase(), await testDatabase()];
    cleanups.push(
      () => a.drop(),
      () => b.drop(),
    );
    const holder = await createConnection({ uri: b.url });
    cleanups.push(() => holder.end());
    // Kysely's own migration lock has one name for every Kysely application on the server, and waits an hour.
    await holder.query(`SELECT GET_LOCK('ea586330-2c93-47c8-908d-981d9d270f9d', 0)`);
    const first = new MysqlRelationalStore({ connectionString: a.url, lockTimeoutMs: 1_000 });
    cleanups.push(() => first.close());
    await first.init();
    // The store's lock, named after the database (here b) and the table prefix, held by "another process".
    const [[held]] = (await holder.query(
      `SELECT GET_LOCK(CONCAT('dw-migrate-', LEFT(SHA2(CONCAT(DATABASE(), '.', 'dw_records'), 256), 48)), 0) AS got`,
    )) as unknown as [[{ got: number }]];
    expect(held.got).toBe(1);
    const waiter = new MysqlRelationalStore({ connectionString: b.url, lockTimeoutMs: 1_000 });
    cleanups.push(() => waiter.close());
    const error = await waiter.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientBackendError);
    expect((error as Error).message).toContain('another process is migrating');
    await holder.query('SELECT RELEASE_ALL_LOCKS()');
    await waiter.init();
    expect(await waiter.countRecords()).toBe(0);
  });

  it('a lock wait past lockTimeoutMs is a TransientBackendError; the holder is unaffected', async () => {
    const database = await testDatabase();
    cleanups.push(() => database.drop());
    const holder = await store({}, database);
    const waiter = await store({ lockTimeoutMs: 1_000 }, database);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => {};
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holding = holder.transaction(async (tx) => {
      await tx.getRecord('busy');
      locked();
      await held;
      await tx.writeRecord({ ...write('busy', 'holder'), version: await tx.nextVersion() });
    });
    await isLocked;
    const error = await waiter.transaction((tx) => tx.getRecord('busy')).catch((e: unknown) => e);
    // The one-statement write path takes pool connections itself, some of which Kysely never configured:
    // the same lock timeout must hold there (it used to wait InnoDB's default 50 s).
    const put = {
      op: 'put' as const,
      record: { id: 'busy', text: 'waiter', metadata: {}, embedding: [1, 0] },
    };
    const writes = await Promise.allSettled([1, 2, 3].map(() => waiter.writeChanges([put], 2_000)));
    release();
    await holding;
    for (const w of writes)
      expect(w.status === 'rejected' ? w.reason : w.value).toBeInstanceOf(TransientBackendError);
    expect(error).toBeInstanceOf(TransientBackendError);
    expect((error as TransientBackendError).component).toBe('mysql');
    expect((await waiter.getRecords(['busy'])).get('busy')!.text).toBe('holder');
  });

  it('close() after init() alone ends every connection the store opened (found by a break-it trial)', async () => {
    const database = await testDatabase();
    cleanups.push(database.drop);
    const connections = async () =>
      Number(
        (
          (await adminQuery(
            `SELECT count(*) AS n FROM information_schema.processlist WHERE db = '${database.name}'`,
          )) as { n: number | string }[]
        )[0]!.n,
      );
    const s = new MysqlRelationalStore({ connectionString: database.url });
    await s.init();
    expect(await connections()).toBeGreaterThan(0);
    await s.close();
    // The server drops a closed connection from the process list shortly after the client's QUIT.
    for (let i = 0; i < 50 && (await connections()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await connections()).toBe(0);
  });

  it('an unreachable server or a missing database is BackendUnavailableError; bad options are ValidationError', async () => {
    const refused = new MysqlRelationalStore({
      connectionString: 'mysql://root@127.0.0.1:1/test',
      connectTimeoutMs: 2_000,
    });
    await expect(refused.init()).rejects.toBeInstanceOf(BackendUnavailableError);
    await refused.close();
    const missing = new MysqlRelationalStore({ connectionString: `${MYSQL_SERVER_URL}/dw_no_such_database` });
    await expect(missing.init()).rejects.toBeInstanceOf(BackendUnavailableError);
    await missing.close();
    expect(() => new MysqlRelationalStore({})).toThrow(ValidationError);
    // Refused at the call, not as a raw driver error at init() — or worse, accepted (found by a break-it trial).
    const invalid: [Record<string, unknown>, string][] = [
      [{ connectionString: 'not a url' }, 'options.connectionString'],
      [{ connectionString: 'postgres://127.0.0.1/app' }, 'options.connectionString'],
      [{ connectionString: 'mysql://root@127.0.0.1:3306' }, 'options.connectionString'],
      [{ connectionString: 'mysql://root@127.0.0.1:3306/app?charset=latin1' }, 'options.connectionString'],
      [{ pool: { host: '127.0.0.1', database: 'app', charset: 'utf8' } }, 'options.pool.charset'],
      [{ pool: { host: '127.0.0.1', database: 'app', charsetNumber: 8 } }, 'options.pool.charsetNumber'],
      [{ pool: [] }, 'options.pool'],
      [{ pool: { uri: 'mysql://127.0.0.1/app?charset=latin1' } }, 'options.pool.uri'],
      [{ connectionString: 'mysql://127.0.0.1/db%zz' }, 'options.connectionString'],
    ];
    for (const [options, field] of invalid)
      expect(() => new MysqlRelationalStore(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ field }),
      );
    expect(
      () =>
        new MysqlRelationalStore({ pool: { host: '127.0.0.1', database: 'app', charset: 'UTF8MB4_BIN' } }),
    ).not.toThrow();
    expect(
      () => new MysqlRelationalStore({ connectionString: 'mysql://x/y', url: 'mysql://x/y' } as never),
    ).toThrow(/invalid options\.url: is not an option/);
    expect(
      () => new MysqlRelationalStore({ connectionString: 'mysql://x/y', tablePrefix: 'bad-prefix' }),
    ).toThrow(/options\.tablePrefix/);
    expect(() => new MysqlRelationalStore({ connectionString: 'mysql://x/y', poolSize: 0 })).toThrow(
      /1\.\.1000/,
    );
  });
});
