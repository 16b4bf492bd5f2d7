import { openRelational } from '@dualwrite/config';
import pg from 'pg';
import { maskPassword } from './database-url.js';
import { type RawRow, type RawTable, type RelationalBackend, rawRowValues } from './relational-backends.js';

/** Table prefix of the stores the benchmark creates (the store's default). */
const TABLE_PREFIX = 'dw_';

/**
 * PostgreSQL: every run gets a fresh schema named after its run id (`dwb_<tag>_<n>_...`), created by the
 * store's `init()` (strategies) or here (raw table of the baselines), and dropped with `CASCADE` afterwards.
 * Schemas still there when the benchmark stops (a failed or interrupted run) are dropped by `shutdown()`.
 *
 * Checks that the server answers first.
 * @throws {Error} when PostgreSQL cannot be reached at `databaseUrl` (the URL's password is masked).
 */
export async function postgresBackend(databaseUrl: string): Promise<RelationalBackend> {
  try {
    await adminQuery(databaseUrl, 'SELECT 1');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`PostgreSQL is not reachable at ${maskPassword(databaseUrl)}: ${message}`);
  }
  const live = new Set<string>();
  const drop = async (schema: string) => {
    await adminQuery(databaseUrl, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    live.delete(schema);
  };
  return {
    name: 'postgres',
    async open(runId) {
      const schema = schemaFor(runId);
      live.add(schema);
      const { store } = await openRelational({
        kind: 'postgres',
        url: databaseUrl,
        schema,
        tablePrefix: TABLE_PREFIX,
      });
      return {
        store,
        location: { kind: 'postgres', databaseUrl, schema, tablePrefix: TABLE_PREFIX },
        async dispose() {
          await store.close();
          await drop(schema);
        },
      };
    },
    async openRawTable(runId) {
      const schema = schemaFor(runId);
      live.add(schema);
      try {
        return await RawPostgresTable.open(databaseUrl, schema, () => drop(schema));
      } catch (error) {
        await drop(schema).catch(() => {});
        throw error;
      }
    },
    async shutdown() {
      await Promise.allSettled([...live].map(drop));
    },
  };
}

/** A schema name for a run id: lower-case letters, digits and `_`, at most 63 characters. */
export function schemaFor(runId: string): string {
  const name = runId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return (/^[a-z_]/.test(name) ? name : `s_${name}`).slice(0, 63);
}

/** Runs one statement on a short-lived connection of its own. */
export async function adminQuery(databaseUrl: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * The `postgres-only` / `naive-dual-write` relational side: node-postgres directly (one `pg.Client`, no
 * pool, no Kysely), one table shaped like the store's record row (`text`, float32 `bytea` embedding,
 * `json` metadata, `bigint` version, timestamps), no outbox, no advisory locks, no NOTIFY. Each insert is
 * one prepared autocommit statement.
 */
class RawPostgresTable implements RawTable {
  private readonly table: string;
  private readonly outbox: string;

  private constructor(
    private readonly client: pg.Client,
    schema: string,
    private readonly drop: () => Promise<void>,
  ) {
    this.table = `"${schema}".records`;
    this.outbox = `"${schema}".outbox`;
  }

  static async open(
    databaseUrl: string,
    schema: string,
    drop: () => Promise<void>,
  ): Promise<RawPostgresTable> {
    const client = new pg.Client({
      connectionString: databaseUrl,
      connectionTimeoutMillis: 10_000,
      application_name: 'dualwrite-bench',
    });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(`CREATE TABLE "${schema}".records (
        id text COLLATE "C" NOT NULL PRIMARY KEY,
        text text NOT NULL,
        embedding bytea NOT NULL,
        metadata json NOT NULL,
        version bigint NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      )`);
      await client.query(`CREATE TABLE "${schema}".outbox (
        record_id text COLLATE "C" NOT NULL PRIMARY KEY,
        version bigint NOT NULL,
        op text NOT NULL,
        state text NOT NULL,
        attempts integer NOT NULL,
        next_attempt_at bigint NOT NULL,
        enqueued_at bigint NOT NULL
      )`);
      await client.query(
        `CREATE INDEX outbox_due ON "${schema}".outbox (next_attempt_at, enqueued_at) WHERE state = 'pending'`,
      );
      return new RawPostgresTable(client, schema, drop);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  async insert(row: RawRow): Promise<void> {
    // A named (prepared) statement, like raw-outbox-tx's: the two baselines differ only in the outbox row.
    await this.client.query({
      name: 'relational-only',
      text: `INSERT INTO ${this.table} AS r (id, text, embedding, metadata, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET text = excluded.text, embedding = excluded.embedding,
       metadata = excluded.metadata, version = excluded.version, updated_at = excluded.updated_at`,
      values: rawRowValues(row, Date.now()),
    });
  }

  async insertWithOutbox(row: RawRow): Promise<void> {
    await this.client.query({
      name: 'raw-outbox-tx',
      text: `WITH r AS (
         INSERT INTO ${this.table} AS r (id, text, embedding, metadata, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET text = excluded.text, embedding = excluded.embedding,
         metadata = excluded.metadata, version = excluded.version, updated_at = excluded.updated_at
         RETURNING id, version)
       INSERT INTO ${this.outbox} (record_id, version, op, state, attempts, next_attempt_at, enqueued_at)
       SELECT id, version, 'upsert', 'pending', 0, $6, $6 FROM r
       ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, attempts = 0,
       next_attempt_at = excluded.next_attempt_at`,
      values: rawRowValues(row, Date.now()),
    });
  }

  async insertMany(rows: readonly RawRow[]): Promise<void> {
    const now = Date.now();
    const columns = rows.map((row) => rawRowValues(row, now));
    await this.client.query({
      name: 'raw-insert-many',
      text: `INSERT INTO ${this.table} AS r (id, text, embedding, metadata, version, created_at, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::json[], $5::bigint[], $6::bigint[], $7::bigint[])
       ON CONFLICT (id) DO UPDATE SET text = excluded.text, embedding = excluded.embedding,
       metadata = excluded.metadata, version = excluded.version, updated_at = excluded.updated_at`,
      values: [0, 1, 2, 3, 4, 5, 6].map((c) => columns.map((v) => v[c])),
    });
  }

  async versions(): Promise<Map<string, number>> {
    const { rows } = await this.client.query<{ id: string; version: string }>(
      `SELECT id, version FROM ${this.table}`,
    );
    return new Map(rows.map((r) => [r.id, Number(r.version)]));
  }

  async dispose(): Promise<void> {
    await this.client.end().catch(() => {});
    await this.drop();
  }
}
