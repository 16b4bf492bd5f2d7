import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELATIONAL_KINDS, VECTOR_KINDS } from '@dualwrite/config';
import { type RelationalBackend, sqliteBackend } from './relational-backends.js';
import { lanceDbBackend, type VectorBackend } from './vector-backends.js';

/** Vector backends the CLI accepts (the names every dualwrite process uses). */
export const VECTOR_BACKENDS = VECTOR_KINDS;
/** Relational backends the CLI accepts (the names every dualwrite process uses). */
export const RELATIONAL_BACKENDS = RELATIONAL_KINDS;

/** Setup shared by the vector backends. */
export interface VectorBackendSetup {
  workDir: string;
  /** Chroma server to use; when absent, a local one is started for the run. */
  chromaUrl: string | undefined;
  log(line: string): void;
}

/**
 * Creates a vector backend by name. For `chroma` without a URL this starts a local Chroma server
 * (stopped by the backend's `shutdown`).
 * @throws {Error} for an unknown name.
 */
export async function createVectorBackend(name: string, setup: VectorBackendSetup): Promise<VectorBackend> {
  switch (name) {
    case 'lancedb':
      return lanceDbBackend(setup.workDir);
    case 'chroma': {
      const { chromaBackend } = await import('./chroma-backend.js');
      return chromaBackend(setup);
    }
    default:
      throw new Error(`unknown vector backend "${name}" (expected one of: ${VECTOR_BACKENDS.join(', ')})`);
  }
}

/** Setup shared by the relational backends. */
export interface RelationalBackendSetup {
  workDir: string;
  /** PostgreSQL server (`--database-url` / `DATABASE_URL`). */
  databaseUrl: string;
  /** MySQL / MariaDB server (`--mysql-url`): a fresh database per run. */
  mysqlUrl: string;
}

/**
 * Creates a relational backend by name. `postgres` and `mysql` are loaded lazily (a SQLite-only run never
 * loads `pg` or `mysql2`) and check that the server answers.
 * @throws {Error} for an unknown name, or when PostgreSQL cannot be reached.
 */
export async function createRelationalBackend(
  name: string,
  setup: RelationalBackendSetup,
): Promise<RelationalBackend> {
  switch (name) {
    case 'sqlite':
      return sqliteBackend(setup.workDir);
    case 'postgres': {
      const { postgresBackend } = await import('./postgres-backend.js');
      return postgresBackend(setup.databaseUrl);
    }
    case 'mysql': {
      const { mysqlBackend } = await import('./mysql-backend.js');
      return mysqlBackend(setup.mysqlUrl);
    }
    default:
      throw new Error(
        `unknown relational backend "${name}" (expected one of: ${RELATIONAL_BACKENDS.join(', ')})`,
      );
  }
}

/**
 * Runs `fn` for each relational backend of `names` (comma-separated), in order: each created with a temporary
 * work directory shared by the runs (`prefix` names it; removed afterwards) and shut down after its run, also
 * when `fn` throws (which ends the loop).
 */
export async function eachRelationalBackend(
  names: string,
  setup: Omit<RelationalBackendSetup, 'workDir'> & { prefix: string },
  fn: (name: string, backend: RelationalBackend, workDir: string) => Promise<void>,
): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), setup.prefix));
  try {
    for (const name of names.split(',')) {
      const backend = await createRelationalBackend(name, { ...setup, workDir });
      try {
        await fn(name, backend, workDir);
      } finally {
        await backend.shutdown();
      }
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
