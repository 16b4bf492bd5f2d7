import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VectorRecord } from '@dualwrite/core';
import type { VectorStoreFactory } from '@dualwrite/core/testing';
import { afterEach } from 'vitest';
import { LanceDbVectorStore, type LanceDbVectorStoreOptions } from '../src/index.js';

/** A fresh temp directory; remove it with `rm(dir, { recursive: true, force: true })`. */
export function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'dualwrite-lancedb-'));
}

/**
 * For a test file: `open` opens a store and `dir` makes a temp directory; after each test every store it
 * opened is closed and every directory removed.
 */
export function closedAfterEach(): {
  open(options: LanceDbVectorStoreOptions): Promise<LanceDbVectorStore>;
  dir(): Promise<string>;
} {
  const dirs: string[] = [];
  const stores: LanceDbVectorStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  return {
    async open(options) {
      const store = await LanceDbVectorStore.open(options);
      stores.push(store);
      return store;
    },
    async dir() {
      const dir = await tempDir();
      dirs.push(dir);
      return dir;
    },
  };
}

/**
 * Suite factory: a store in a fresh temp directory. `maxBatchSize` is small so the large-batch check
 * really exercises chunking (the suite caps its batch at 2,500 records).
 */
export function lanceDbFactory(
  overrides: Partial<LanceDbVectorStoreOptions> = {},
  wrap: (store: LanceDbVectorStore) => LanceDbVectorStore = (s) => s,
): VectorStoreFactory {
  return async ({ dimension }) => {
    const dir = await tempDir();
    const store = await LanceDbVectorStore.open({ uri: dir, dimension, maxBatchSize: 64, ...overrides });
    return {
      store: wrap(store),
      async cleanup() {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  };
}

export function randomVector(dimension: number): number[] {
  return Array.from({ length: dimension }, () => Math.random() * 2 - 1);
}

export function record(id: string, dimension: number, overrides: Partial<VectorRecord> = {}): VectorRecord {
  return {
    id,
    embedding: randomVector(dimension),
    text: `text ${id}`,
    metadata: {},
    version: 1,
    ...overrides,
  };
}
