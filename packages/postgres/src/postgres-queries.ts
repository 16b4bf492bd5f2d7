/**
 * The PostgreSQL dialect's own SQL behind {@link PostgresRelationalStore} (the statements every dialect shares
 * come from `SqlQueries` of `@dualwrite/sql`): advisory locks, the sequence, NOTIFY, the one-statement
 * claim and the set-based fast paths. Values are always bound; identifiers come only from the validated
 * schema and table prefix. Each function runs on the Kysely instance it is given (the pool-level instance
 * for single statements, or one bound to a transaction).
 * @internal
 */
import { createHash } from 'node:crypto';
import {
  type ClaimedOutboxRow,
  type ClaimLease,
  int,
  type SqlInt,
  SqlQueries,
  sqlTables,
  transactionEnded,
} from '@dualwrite/sql';
import { type RawBuilder, sql } from 'kysely';
import { POSTGRES_COMPONENT } from './postgres-errors.js';
import type { PreparedCalls } from './postgres-prepared-calls.js';
import type { PostgresKysely, PostgresTableNames } from './postgres-relational-store-options.js';

type Db = PostgresKysely;

/**
 * Second key of the advisory lock that serialises moves of the version sequence (under the store's
 * `lockClass`; a record id hashing to it only shares the lock's queue, which is harmless).
 */
const SEQUENCE_MOVE_LOCK_KEY = 0x7fff_fffe;

/**
 * True inside a transaction block, false in autocommit: the two times are equal only during the first command
 * of a transaction (PostgreSQL manual, "Current Date/Time"), and inside a block that command is its `BEGIN`.
 * Only over the simple query protocol (a statement without parameters): over the extended one, the server
 * takes the statement time again at each of its messages, after the transaction began at the first.
 * Every record write locks its id first, so a write that would run in autocommit — after a `COMMIT` or
 * `ROLLBACK` the application ran on `uow.db`, its record row and outbox row then separate transactions — is
 * refused before anything of it is written, at no extra round trip.
 */
const IN_TRANSACTION_BLOCK = 'statement_timestamp() <> transaction_timestamp()';

/**
 * The transaction's start in microseconds since the epoch: another one after a `COMMIT` and a `BEGIN` starts
 * later. An integer, so no session setting changes its text (`timestamptz` text follows `TimeZone` and
 * `DateStyle`, which an application may `SET LOCAL` inside the transaction).
 */
const BEGAN = '(extract(epoch from transaction_timestamp()) * 1000000)::bigint::text AS began';

/** First 4 bytes of SHA-256 of `text`, as a signed 32-bit integer. */
function int32Hash(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}

/** SQL for the store's objects under one schema and prefix. */
export class PostgresQueries extends SqlQueries {
  readonly #sequence: RawBuilder<unknown>;
  /** `"schema"."prefix_version_seq"`, for `nextval(...::regclass)`. */
  readonly #sequenceName: string;
  readonly #channel: string;
  /**
   * First key of the two-key advisory locks on record ids (`pg_advisory_xact_lock(int4, int4)`), derived
   * from the schema and table names: stores in other schemas or with other prefixes never contend, and the
   * two-key space never collides with single-`bigint` advisory locks (the migration lock, Kysely's, most
   * applications').
   */
  readonly lockClass: number;

  /**
   * Where the store's autocommit statements run as named prepared statements (set by the store once its pool
   * exists); `undefined`: through Kysely, like the statements of a transaction.
   */
  prepared: PreparedCalls | undefined;

  constructor(tables: PostgresTableNames) {
    const t = (name: string) => sql.id(tables.schema, name);
    super(
      sqlTables(tables, t),
      // READ COMMITTED: a read-modify-write of an outbox row locks it.
      {
        bool: (value) => value,
        lockRowsForUpdate: true,
        typedInt: (value) => sql`CAST(${value} AS BIGINT)`,
        // The store's autocommit reads by id are named prepared statements (see `rowsOf`): a few lengths of list.
        reusesStatements: true,
      },
    );
    this.#sequence = t(tables.versionSequence);
    this.#sequenceName = `"${tables.schema}"."${tables.versionSequence}"`;
    this.#channel = tables.notifyChannel;
    this.lockClass = int32Hash(`dualwrite:record-lock:${tables.schema}.${tables.records}`);
  }

  // -- per-record locks ----------------------------------------------------------------------------

  /**
   * Second key of the advisory lock of record `id`: 32 bits of SHA-256 of the id. Two ids sharing a key
   * merely serialise their writers; they never corrupt anything.
   */
  lockKey(id: string): number {
    return int32Hash(id);
  }

  /**
   * Takes the transaction-scoped advisory locks of `ids` (held until COMMIT/ROLLBACK) in ascending key
   * order, one statement. Every read-modify-write of a record id (a writer's `getRecord` → `writeRecord` →
   * `enqueue`, an ack, a repair) takes its id's lock first, so they run one after the other and each one's
   * reads see the previous one's committed writes (READ COMMITTED takes a new snapshot per statement, and
   * this statement ends before the reads start).
   */
  override readonly locksRecords = true;

  /** The lock statement also checks the transaction is the one it began in (see `IN_TRANSACTION_BLOCK`). */
  override readonly lockChecksTransaction = true;

  /**
   * The advisory lock keys of `ids`, each once, in the order every multi-id operation takes them: ascending.
   * Keys, not ids, are what is locked: ordering by id would not do, since two ids can share a key (32 bits of
   * SHA-256; one pair among about 77,000 ids is likely) — with `a < b < c` and `key(a) = key(c)`, writers of
   * `[a, b]` and `[b, c]` would take `key(a), key(b)` and `key(b), key(a)` and deadlock (found by a break-it
   * trial: 17 of 200 calls).
   */
  lockKeys(ids: readonly string[]): number[] {
    return [...new Set(ids.map((id) => this.lockKey(id)))].sort((a, b) => a - b);
  }

  override async lockRecords(db: Db, ids: readonly string[]): Promise<void> {
    const keys = this.lockKeys(ids);
    if (keys.length === 0) return;
    // Volatile functions in the target list run after WHERE and ORDER BY, so the locks are taken in array
    // order, and none outside a transaction block (see `IN_TRANSACTION_BLOCK`).
    // The keys are 32-bit integers computed here, written into the text: a statement without parameters goes
    // over the simple query protocol, where the check holds (see `IN_TRANSACTION_BLOCK`).
    const { rows } = await sql
      .raw<{ began: string }>(
        keys.length === 1
          ? `SELECT pg_advisory_xact_lock(${this.lockClass}, ${keys[0]}), ${BEGAN} WHERE ${IN_TRANSACTION_BLOCK}`
          : `SELECT pg_advisory_xact_lock(${this.lockClass}, k), ${BEGAN}
             FROM unnest(ARRAY[${keys.join(',')}]::int4[]) WITH ORDINALITY AS t(k, n)
             WHERE ${IN_TRANSACTION_BLOCK} ORDER BY n`,
      )
      .execute(db);
    this.#sameTransaction(db, rows[0]?.began);
  }

  /**
   * Refuses to go on when `db`'s transaction was ended by a statement the application ran on it: none is open,
   * or another one than the one its first lock was taken in (a `COMMIT` then a `BEGIN`).
   * @throws {ValidationError} naming `uow.db`.
   */
  async assertInTransactionBlock(db: Db): Promise<void> {
    const { rows } = await sql
      .raw<{ began: string }>(`SELECT ${BEGAN} WHERE ${IN_TRANSACTION_BLOCK}`)
      .execute(db);
    this.#sameTransaction(db, rows[0]?.began);
  }

  /** Start time of the transaction each transaction-bound Kysely instance took its first lock in. */
  readonly #began = new WeakMap<Db, string>();

  /** `began` (`undefined`: outside a block) is the start of the transaction `db` first locked in, or the first. */
  #sameTransaction(db: Db, began: string | undefined): void {
    const first = this.#began.get(db);
    if (began !== undefined && (first === undefined || first === began)) {
      this.#began.set(db, began);
      return;
    }
    throw transactionEnded(POSTGRES_COMPONENT, 'COMMIT, ROLLBACK');
  }

  /** {@link lockRecords} without waiting: `false` (and nothing held that matters) when one is taken. */
  async tryLockRecords(db: Db, ids: readonly string[]): Promise<boolean> {
    const keys = this.lockKeys(ids);
    const { rows } = await sql<{ ok: boolean }>`
      SELECT bool_and(pg_try_advisory_xact_lock(${this.lockClass}::int4, k)) AS ok
      FROM unnest(${keys}::int4[]) AS t(k)`.execute(db);
    return rows[0]?.ok === true;
  }

  /** `pg_notify(<channel>, '')`: delivered to listeners when the transaction commits (at once outside one). */
  async notify(db: Db): Promise<void> {
    await sql`SELECT pg_notify(${this.#channel}, '')`.execute(db);
  }

  // -- versions ------------------------------------------------------------------------------------

  /** A version `> atLeast`: `nextval`, or {@link nextVersionAbove} when a floor is given. */
  async nextVersion(db: Db, atLeast: number): Promise<number> {
    return atLeast > 0 ? this.nextVersionAbove(db, atLeast) : this.nextval(db);
  }

  /** `nextval` of the version sequence (not rolled back with the transaction, so never handed out twice). */
  async nextval(db: Db): Promise<number> {
    const { rows } = await sql<{ v: SqlInt }>`SELECT nextval(${this.#sequenceName}::regclass) AS v`.execute(
      db,
    );
    return int(rows[0]!.v);
  }

  /**
   * Draws a version `> atLeast`, moving the sequence past `atLeast` when it is not yet (a restored database,
   * a reset sequence). The move happens under the sequence's own lock (`ALTER SEQUENCE` blocks concurrent
   * `nextval` until this transaction ends; PostgreSQL docs, ALTER SEQUENCE), so no other session can be
   * handed the same value. Callers of this method take a transaction-scoped advisory lock first: two of
   * them each holding the sequence (their `nextval`) while waiting for the other's `ALTER SEQUENCE` would
   * deadlock (seen once in the contract suite's concurrent draws).
   */
  async nextVersionAbove(db: Db, atLeast: number): Promise<number> {
    await sql`SELECT pg_advisory_xact_lock(${this.lockClass}::int4, ${SEQUENCE_MOVE_LOCK_KEY}::int4)`.execute(
      db,
    );
    const drawn = await this.nextval(db);
    if (drawn > atLeast) return drawn;
    await sql`ALTER SEQUENCE ${this.#sequence} NO CYCLE`.execute(db);
    const { rows } = await sql<{ v: SqlInt }>`
      SELECT setval(${this.#sequenceName}::regclass, greatest(last_value, ${atLeast}::bigint) + 1, true) AS v
      FROM ${this.#sequence}`.execute(db);
    return int(rows[0]!.v);
  }

  /** The server's clock at the call (`clock_timestamp()`, not the transaction's start), Unix ms. */
  protected override clockQuery() {
    return sql<{ t: number }>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t`;
  }

  /** Highest version handed out so far by any session, committed or not (0 when none). */
  async currentVersion(db: Db): Promise<number> {
    const { rows } = await sql<{ v: SqlInt }>`
      SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS v FROM ${this.#sequence}`.execute(db);
    return int(rows[0]?.v ?? '0');
  }

  /**
   * Claims due entries in one statement: the subquery picks pending entries with `next_attempt_at <= now`
   * and no live lease, oldest first, and locks them `FOR UPDATE SKIP LOCKED` — rows another transaction is
   * claiming at this moment are skipped instead of waited for, and a row that a concurrent claim leased and
   * committed in the meantime is re-checked against the WHERE clause and dropped (PostgreSQL docs, SELECT,
   * "The Locking Clause"; §13.2.1 on READ COMMITTED re-evaluation). The outer UPDATE writes the lease: a fresh
   * `gen_random_uuid()` token, owner, expiry, and `lease_version = version`; each row comes back with
   * `taken_over` (the locked row had a lease: an expired one).
   *
   * Rows come back in no particular order; the caller sorts them.
   */
  override claim(db: Db, { owner, now, leaseUntil, limit }: ClaimLease): Promise<ClaimedOutboxRow[]> {
    return this.rowsOf(
      db,
      sql<ClaimedOutboxRow>`
        UPDATE ${this.tables.outbox} AS o
        SET lease_owner = ${owner}, lease_token = gen_random_uuid()::text, lease_until = ${leaseUntil},
          lease_version = o.version
        FROM (${this.dueIds(now, limit, sql`record_id, lease_until`)}) AS due
        WHERE o.record_id = due.record_id
        RETURNING o.*, due.lease_until IS NOT NULL AS taken_over`,
    );
  }

  /**
   * On the store's own handle, a named prepared statement ({@link prepared}): parsed and planned once per
   * connection (an empty claim: 0.35 → about 0.15 ms on localhost); in a transaction, through Kysely.
   */
  protected override rowsOf<R>(db: Db, query: RawBuilder<R>): Promise<R[]> {
    if (this.prepared === undefined || db.isTransaction) return super.rowsOf(db, query);
    return this.prepared.run(query.compile(db));
  }
}
