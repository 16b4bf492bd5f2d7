import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RelationalStoreFixture } from '@dualwrite/core/testing';
import { runSqlStatement } from '@dualwrite/sql/testing';
import { SqliteRelationalStore } from '../src/index.js';
import type { SqliteRelationalStoreOptions } from '../src/sqlite-relational-store-options.js';

/** A fresh temp directory and a remover. */
export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dualwrite-sqlite-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Factory for the contract suite: a store on a new database file in its own temp directory. */
export function sqliteFactory(
  make: (options: SqliteRelationalStoreOptions) => SqliteRelationalStore = (o) =>
    new SqliteRelationalStore(o),
): () => Promise<RelationalStoreFixture> {
  return async () => {
    const { dir, remove } = await tempDir();
    const store = make({ path: join(dir, 'dualwrite.db') });
    return {
      store,
      runStatement: runSqlStatement,
      async cleanup() {
        await store.close();
        await remove();
      },
    };
  };
}
