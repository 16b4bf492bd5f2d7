import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RelationalStore } from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';

/** A fresh relational store for one run, and how to throw it away afterwards. */
export interface RelationalLease {
  store: RelationalStore;
  /** Closes the store (if still open) and deletes its data. */
  dispose(): Promise<void>;
}

/** A relational backend (source of truth) the benchmark can run against. */
export interface RelationalBackend {
  /** Backend name as it appears in results (`sqlite`). */
  readonly name: string;
  /** Opens a new, empty database named after `runId` (not yet initialised: the facade does that). */
  open(runId: string): Promise<RelationalLease>;
}

/** `SqliteRelationalStore` on a new database file under `workDir` per run. */
export function sqliteBackend(workDir: string): RelationalBackend {
  return {
    name: 'sqlite',
    async open(runId) {
      const path = join(workDir, `${runId}.sqlite`);
      const store = new SqliteRelationalStore({ path });
      return {
        store,
        async dispose() {
          await store.close();
          await removeSqliteFiles(path);
        },
      };
    },
  };
}

/** Deletes a SQLite database file and its WAL/SHM companions. */
export async function removeSqliteFiles(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm', '-journal'].map((s) => rm(`${path}${s}`, { force: true })));
}
