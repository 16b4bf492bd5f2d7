/**
 * A fresh source of truth per trial or test, on the backend asked for: a SQLite file in the trial's
 * directory, a MySQL / MariaDB database or a PostgreSQL schema on a server (created here, removed by `drop`).
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { RelationalBackendName, RelationalBackendSpec } from './protocol.js';

/** A source of truth made for one trial, and how to remove it. */
export interface TrialDatabase {
  spec: RelationalBackendSpec;
  /** Removes the server-side database or schema (a SQLite file goes with its directory). */
  drop(): Promise<void>;
}

/** Makes a {@link TrialDatabase} for a trial whose files live in `dir`. */
export type TrialDatabases = (dir: string) => Promise<TrialDatabase>;

/** Default servers: the CI's (`scripts/ci/ensure-mariadb.sh`, `scripts/ci/ensure-postgres.sh`). */
export const DEFAULT_SERVERS = Object.freeze({
  mysql: process.env.DUALWRITE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
  postgres: process.env.DUALWRITE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
});

/** {@link TrialDatabases} on `kind`; server-side names are `dw_rel_<random>`. */
export function trialDatabases(
  kind: RelationalBackendName,
  servers: { mysql: string; postgres: string } = DEFAULT_SERVERS,
): TrialDatabases {
  return async (dir) => {
    const name = `dw_rel_${randomBytes(6).toString('hex')}`;
    if (kind === 'sqlite') return { spec: { kind, path: join(dir, 'source.db') }, drop: async () => {} };
    if (kind === 'mysql') {
      const { createConnection } = await import('mysql2/promise');
      const admin = async (text: string) => {
        const connection = await createConnection({ uri: servers.mysql });
        await connection.query(text).finally(() => connection.end());
      };
      await admin(`CREATE DATABASE \`${name}\``);
      return {
        spec: { kind, url: `${servers.mysql.replace(/\/+$/, '')}/${name}` },
        drop: () => admin(`DROP DATABASE IF EXISTS \`${name}\``),
      };
    }
    const { default: pg } = await import('pg');
    return {
      spec: { kind, url: servers.postgres, schema: name },
      drop: async () => {
        const client = new pg.Client({ connectionString: servers.postgres });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`).finally(() => client.end());
      },
    };
  };
}
