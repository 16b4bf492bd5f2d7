import { randomUUID } from 'node:crypto';
import type { VectorRecord } from '@dualwrite/core';
import { ChromaClient } from 'chromadb';
import { inject } from 'vitest';
import { ChromaVectorStore } from '../src/chroma-vector-store.js';
import type { ChromaVectorStoreOptions } from '../src/chroma-vector-store-options.js';

/** URL of the server started by test/global-setup.ts (or CHROMA_URL). */
export function chromaUrl(): string {
  return inject('chromaUrl');
}

/** A collection name unique to this test. */
export function uniqueCollection(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}

/** Deletes a collection directly through the chromadb client (ignores "not found"). */
export async function dropCollection(url: string, name: string): Promise<void> {
  const u = new URL(url);
  const client = new ChromaClient({ host: u.hostname, port: Number(u.port), ssl: u.protocol === 'https:' });
  try {
    await client.deleteCollection({ name });
  } catch {
    // already gone
  }
}

/** Opens a store on a fresh collection; `cleanup` closes it and deletes the collection. */
export async function openTestStore(
  options: Partial<ChromaVectorStoreOptions> = {},
): Promise<{ store: ChromaVectorStore; cleanup: () => Promise<void> }> {
  const url = options.url ?? chromaUrl();
  const collection = options.collection ?? uniqueCollection();
  const store = await ChromaVectorStore.open({ dimension: 8, ...options, url, collection });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropCollection(url, collection);
    },
  };
}

/** Deterministic pseudo-random vector (non-zero first component). */
export function vector(seed: number, dim = 8): number[] {
  let x = (seed * 2654435761) % 4294967296;
  const out: number[] = [];
  for (let i = 0; i < dim; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    out.push(x / 4294967296 - 0.5);
  }
  out[0] = (out[0]! >= 0 ? 0.1 : -0.1) + out[0]!;
  return out;
}

export function record(id: string, seed: number, overrides: Partial<VectorRecord> = {}): VectorRecord {
  return { id, embedding: vector(seed), text: `text of ${id}`, metadata: {}, version: 1, ...overrides };
}
