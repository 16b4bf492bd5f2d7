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
 * pooled connection that runs it, so texts that vary must not pile up on the server. The store's calls and its
 * repeated reads come to about 25 (a read by ids has one text per padded list length).
 */
const MAX_NAMED_TEXTS = 64;

/**
 * SQLSTATE of a prepared statement whose plan its server would have to re-plan to another result type (`0A000`
 * feature_not_supported, "cached plan must not change result type": a migration replaced the function it
 * calls). It never ran; a statement prepared afresh does. Matched by code alone (the message is translated
 * under another `lc_messages`); a call that keeps failing so is prepared afresh at most
 * {@link MAX_GENERATIONS} times, then sent unnamed.
 */
const STALE_RESULT_TYPE = '0A000';

/** Names one statement text is prepared under, at most, before it goes unnamed (see {@link STALE_RESULT_TYPE}). */
const MAX_GENERATIONS = 8;

/** `text` with `values` on `client`, as the prepared statement `name` (unnamed when `undefined`); its rows. */
async function send<R>(
  client: pg.PoolClient,
  name: string | undefined,
  text: string,
  values: unknown[],
): Promise<R[]> {
  const config = name === undefined ? { text, values } : { name, text, values };
  return (await client.query<R & pg.QueryResultRow>(config)).rows;
}

/**
 * Runs the store's one-statement function calls (`write_changes`, `ack_deliveries`, `sync_prepare`,
 * `sync_commit`) and the drain's repeated autocommit statements (the claim, reads of records by id and of meta
 * values; see `PostgresQueries.rowsOf`) as named prepared statements on a connection of the pool: the server
 * parses and plans each text once per connection instead of once per call (PostgreSQL docs, "PREPARE";
 * node-postgres docs, "Queries: Prepared Statements"): about 0.05–0.1 ms of a 0.6 ms put on localhost. A
 * statement's name is a digest of its text, so one name never stands for two texts on any server session,
 * whoever prepared it.
 *
 * Behind a pooler that does not carry prepared statements across server sessions (PgBouncer in transaction
 * mode before 1.21, or with `max_prepared_statements = 0`; PgBouncer docs, "max_prepared_statements") a call
 * meets a session without the statement, or with it already: the server refuses it before running it
 * (`26000`, `42P05`), the call runs again unnamed, and this store sends every later call unnamed. A plan whose
 * result type a migration changed (`0A000`) is prepared again under a new name. Either retry runs on the same
 * connection, which goes back to the pool only once it answered.
 */
export class PreparedCalls {
  /** `false` once a server session refused a named statement (see the class's note). */
  #named = true;
  /** Statement names by text (`null`: sent unnamed); a text's name changes when its plan went stale. */
  readonly #names = new Map<string, { base: string; generation: number; name: string | null }>();

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
      try {
        return await send<R>(client, name, query.sql, values);
      } catch (error) {
        const code = errorCode(error);
        if (name !== undefined && code === STALE_RESULT_TYPE) this.#nextGeneration(query.sql, name);
        else if (name !== undefined && STATEMENT_REFUSED.has(code ?? '')) this.#named = false;
        else throw error;
        // Awaited here: the connection goes back to the pool only once the retry answered.
        return await send<R>(client, this.#nameOf(query.sql), query.sql, values);
      }
    } finally {
      client.release();
    }
  }

  /** The name `text` is prepared under; `undefined` to send it unnamed. */
  #nameOf(text: string): string | undefined {
    if (!this.#named) return undefined;
    const known = this.#names.get(text);
    if (known !== undefined) return known.name ?? undefined;
    if (this.#names.size >= MAX_NAMED_TEXTS) return undefined;
    const name = `dw_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    this.#names.set(text, { base: name, generation: 0, name });
    return name;
  }

  /**
   * `text` under a new name (`dw_<digest>_<generation>`, at most 30 bytes), or unnamed past {@link MAX_GENERATIONS}
   * — unless `failed` is no longer its name: one schema change fails the calls in flight on every connection at
   * once, and each moving the name on spent all the generations on one `ALTER TABLE` (helper-87: pool of 10,
   * unnamed after the first; a pool of 4, after the second).
   */
  #nextGeneration(text: string, failed: string): void {
    const known = this.#names.get(text);
    if (known?.name == null || known.name !== failed) return;
    const generation = known.generation + 1;
    const name = generation < MAX_GENERATIONS ? `${known.base}_${generation}` : null;
    this.#names.set(text, { base: known.base, generation, name });
  }
}
