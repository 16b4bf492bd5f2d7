import { CompiledQuery, type DatabaseConnection, PostgresDriver, type TransactionSettings } from 'kysely';

/**
 * Kysely's PostgreSQL driver whose transactions begin with `SET LOCAL lock_timeout` (one round trip: `BEGIN`
 * and the `SET` in one simple-protocol message), so every transaction of the store waits for a lock at most
 * `lockTimeoutMs` (`0`: forever) wherever it runs — also behind a pooler in transaction mode, which a
 * session-level `SET` cannot promise — and nothing of it outlives the transaction (PostgreSQL docs, SET:
 * "the effects of SET LOCAL last only till the end of the current transaction"; PgBouncer docs, "SQL feature
 * map for pooling modes": a session `SET` is not supported in transaction pooling).
 */
export class LockTimeoutDriver extends PostgresDriver {
  readonly #setTimeout: string;

  constructor(config: ConstructorParameters<typeof PostgresDriver>[0], lockTimeoutMs: number) {
    super(config);
    this.#setTimeout = `SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`;
  }

  override async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    const { isolationLevel, accessMode } = settings;
    const isolation = isolationLevel ? ` ISOLATION LEVEL ${isolationLevel}` : '';
    const access = accessMode ? ` ${accessMode}` : '';
    const begin = isolation || access ? `START TRANSACTION${isolation}${access}` : 'BEGIN';
    try {
      await connection.executeQuery(CompiledQuery.raw(`${begin}; ${this.#setTimeout}`));
    } catch (error) {
      // A cancel or `statement_timeout` landing on the SET leaves the BEGIN's transaction open and aborted, and
      // Kysely releases a connection whose begin failed without a ROLLBACK: the pool then handed it out with
      // every statement refused (25P02) — also plain puts, reported as a non-retryable error on `uow.db` (a
      // break-it round: `pg_cancel_backend` in a loop, 4 of 9 runs; 292 of 292 puts failing for 30 s after).
      await connection.executeQuery(CompiledQuery.raw('ROLLBACK')).catch(() => {});
      throw error;
    }
  }
}
