import { createHash } from 'node:crypto';
import { errorCode } from '@dualwrite/sql';
import type { CompiledQuery } from 'kysely';
import type pg from 'pg';

/**
 * SQLSTATEs of a named statement a server session does not hold as this client believes: `26000`
 * invalid_sql_statement_name (the Bind found no such statement — a pooler in transaction mode without
 * prepared-statement support sent it to another server session, or a `DEALLOCATE` / `DISCARD ALL` dropped it)
 * and `42P05` duplicate_prepared_statement (the Parse found one of that name already there). Either way the
 * statement never ran (PostgreSQL docs, "Message Flow", Extended Query: an error aborts the rest up to Sync).
 */
const STATEMENT_REFUSED = new Set(['26000', '42P05']);

/**
 * Distinct statement texts this store prepares by name, at most: each becomes a prepared statement on every
 * pooled connection that runs it, so texts that vary (none of the store's calls do today) must not pile up on
 * the server.
 */
const MAX_NAMED_TEXTS = 32;

/**
 * Whether `error` is a prepared statement's plan that its server must re-plan to a different result type
 * (`0A000` "cached plan must not change result type": a migration replaced the function it calls). It never
 * ran; a statement prepared afresh does.
 */
function staleResultType(error: unknown): boolean {
  return errorCode(error) === '0A000' && /cached plan/i.test(String((error as Error).message));
}

/**
 * Runs the store's one-statement function calls (`write_changes`, `ack_deliveries`, `sync_prepare`,
 * `sync_commit`) as named prepared statements on a connection of the pool: the server parses and plans each
 * text once per connection instead of once per call (PostgreSQL docs, "PREPARE"; node-postgres docs,
 * "Queries: Prepared Statements"): about 0.05–0.1 ms of a 0.6 ms put on localhost. A statement's name
 * is a digest of its text, so one name never stands for two texts on any server session, whoever prepared it.
 *
 * Behind a pooler that does not carry prepared statements across server sessions (PgBouncer in transaction
 * mode before 1.21, or with `max_prepared_statements = 0`; PgBouncer docs, "max_prepared_statements") a call
 * meets a session without the statement, or with it already: the server refuses it before running it
 * (`26000`, `42P05`), the call runs again unnamed, and this store sends every later call unnamed. A plan whose
 * result type a migration changed (`0A000`) is prepared again under a new name.
 */
export class PreparedCalls {
  /** `false` once a server session refused a named statement (see the class's note). */
  #named = true;
  /** Statement names by text; a text's name changes when its plan went stale. */
  readonly #names = new Map<string, string>();

  /**
   * @param pool - the store's pool; a call takes a connection and gives it back (the pool drops one whose
   *   connection broke).
   */
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Runs `query` in autocommit, named when it can (see the class's note).
   * @returns its rows.
   * @throws the driver's error (unmapped) when the statement failed, or no connection could be had.
   */
  async run<R>(query: CompiledQuery<R>): Promise<R[]> {
    const values = [...query.parameters];
    const client = await this.pool.connect();
    try {
      const name = this.#nameOf(query.sql);
      if (name === undefined) return (await client.query<R & pg.QueryResultRow>(query.sql, values)).rows;
      try {
        return (await client.query<R & pg.QueryResultRow>({ name, text: query.sql, values })).rows;
      } catch (error) {
        if (staleResultType(error)) this.#names.set(query.sql, `${name}_`);
        else if (STATEMENT_REFUSED.has(errorCode(error) ?? '')) this.#named = false;
        else throw error;
        return this.runOn(client, query.sql, values);
      }
    } finally {
      client.release();
    }
  }

  /** `text` with `values` on `client`, named if {@link run}'s rules still allow. */
  private async runOn<R>(client: pg.PoolClient, text: string, values: unknown[]): Promise<R[]> {
    const name = this.#nameOf(text);
    const config = name === undefined ? { text, values } : { name, text, values };
    return (await client.query<R & pg.QueryResultRow>(config)).rows;
  }

  /** The name `text` is prepared under; `undefined` to send it unnamed. */
  #nameOf(text: string): string | undefined {
    if (!this.#named) return undefined;
    const known = this.#names.get(text);
    if (known !== undefined || this.#names.size >= MAX_NAMED_TEXTS) return known;
    const name = `dw_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    this.#names.set(text, name);
    return name;
  }
}
