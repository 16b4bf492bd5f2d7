import { openRelational } from '@dualwrite/config';
import { type Connection, createConnection } from 'mysql2/promise';
import { maskPassword } from './database-url.js';
import { schemaFor } from './postgres-backend.js';
import { type RawRow, type RawTable, type RelationalBackend, rawRowValues } from './relational-backends.js';

/** Table prefix of the stores the benchmark creates (the store's default). */
const TABLE_PREFIX = 'dw_';

/**
 * MySQL / MariaDB: every run gets a fresh database named after its run id, created here and dropped
 * afterwards; databases still there when the benchmark stops are dropped by `shutdown()`.
 * @throws {Error} when the server cannot be reached at `serverUrl` (the password is masked).
 */
export async function mysqlBackend(serverUrl: string): Promise<RelationalBackend> {
  const admin = async (text: string) => {
    const connection = await createConnection({ uri: serverUrl, connectTimeout: 10_000 });
    try {
      await connection.query(text);
    } finally {
      await connection.end();
    }
  };
  try {
    await admin('SELECT 1');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`MySQL is not reachable at ${maskPassword(serverUrl)}: ${message}`);
  }
  const live = new Set<string>();
  const create = async (runId: string) => {
    const database = schemaFor(runId).slice(0, 64);
    await admin(`CREATE DATABASE \`${database}\``);
    live.add(database);
    return { database, url: `${serverUrl.replace(/\/+$/, '')}/${database}` };
  };
  const drop = async (database: string) => {
    await admin(`DROP DATABASE IF EXISTS \`${database}\``);
    live.delete(database);
  };
  return {
    name: 'mysql',
    async open(runId) {
      const { database, url } = await create(runId);
      const { store } = await openRelational({ kind: 'mysql', url, tablePrefix: TABLE_PREFIX });
      return {
        store,
        location: { kind: 'mysql', databaseUrl: url, tablePrefix: TABLE_PREFIX },
        async dispose() {
          await store.close();
          await drop(database);
        },
      };
    },
    async openRawTable(runId) {
      const { database, url } = await create(runId);
      try {
        return await RawMysqlTable.open(url, () => drop(database));
      } catch (error) {
        await drop(database).catch(() => {});
        throw error;
      }
    },
    async shutdown() {
      await Promise.allSettled([...live].map(drop));
    },
  };
}

/**
 * The `mysql-only` / `naive-dual-write` relational side: mysql2 directly (one connection, no pool, no
 * Kysely), one table shaped like the store's record row (`VARBINARY` id, `LONGTEXT` text and metadata,
 * `LONGBLOB` float32 embedding, `BIGINT` version and times), no outbox, no lock slots. Each insert is one
 * autocommit `INSERT … ON DUPLICATE KEY UPDATE`.
 */
class RawMysqlTable implements RawTable {
  private constructor(
    private readonly connection: Connection,
    private readonly drop: () => Promise<void>,
  ) {}

  static async open(url: string, drop: () => Promise<void>): Promise<RawMysqlTable> {
    const connection = await createConnection({
      uri: url,
      connectTimeout: 10_000,
      multipleStatements: true,
    });
    try {
      await connection.query(`CREATE TABLE outbox (
        record_id VARBINARY(1536) NOT NULL PRIMARY KEY,
        version BIGINT NOT NULL,
        op VARCHAR(16) NOT NULL,
        state VARCHAR(16) NOT NULL,
        attempts INT NOT NULL,
        next_attempt_at BIGINT NOT NULL,
        enqueued_at BIGINT NOT NULL,
        INDEX outbox_due (state, next_attempt_at, enqueued_at)
      )`);
      await connection.query(`CREATE TABLE records (
        id VARBINARY(1536) NOT NULL PRIMARY KEY,
        text LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        embedding LONGBLOB NOT NULL,
        metadata LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`);
      return new RawMysqlTable(connection, drop);
    } catch (error) {
      await connection.end().catch(() => {});
      throw error;
    }
  }

  async insert(row: RawRow): Promise<void> {
    await this.connection.query(
      `INSERT INTO records (id, text, embedding, metadata, version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE text = VALUES(text), embedding = VALUES(embedding),
       metadata = VALUES(metadata), version = VALUES(version), updated_at = VALUES(updated_at)`,
      rawRowValues(row, Date.now()),
    );
  }

  async insertWithOutbox(row: RawRow): Promise<void> {
    const values = rawRowValues(row, Date.now());
    await this.connection.query(
      `BEGIN;
       INSERT INTO records (id, text, embedding, metadata, version, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE text = VALUES(text), embedding = VALUES(embedding),
       metadata = VALUES(metadata), version = VALUES(version), updated_at = VALUES(updated_at);
       INSERT INTO outbox (record_id, version, op, state, attempts, next_attempt_at, enqueued_at)
       VALUES (?, ?, 'upsert', 'pending', 0, ?, ?)
       ON DUPLICATE KEY UPDATE version = VALUES(version), attempts = 0,
       next_attempt_at = VALUES(next_attempt_at);
       COMMIT`,
      [...values, row.id, row.version, values[5], values[5]],
    );
  }

  async insertMany(rows: readonly RawRow[]): Promise<void> {
    const now = Date.now();
    await this.connection.query(
      `INSERT INTO records (id, text, embedding, metadata, version, created_at, updated_at)
       VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE text = VALUES(text), embedding = VALUES(embedding),
       metadata = VALUES(metadata), version = VALUES(version), updated_at = VALUES(updated_at)`,
      rows.flatMap((row) => rawRowValues(row, now)),
    );
  }

  async versions(): Promise<Map<string, number>> {
    const [rows] = await this.connection.query('SELECT id, version FROM records');
    return new Map(
      (rows as { id: Buffer; version: number | string }[]).map((r) => [
        r.id.toString('utf8'),
        Number(r.version),
      ]),
    );
  }

  async dispose(): Promise<void> {
    await this.connection.end().catch(() => {});
    await this.drop();
  }
}
