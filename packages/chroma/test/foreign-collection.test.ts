/**
 * Another application's collection configured as dualwrite's index: it has no owner token and its rows carry
 * no dualwrite version. Before, the first start stamped it, and the repair or `reconcile()` deleted the
 * application's documents as orphans. Now the start is refused with `IndexBindingError` on field `rows`, the
 * documents stay, and `indexBinding: 'rebind'` still takes the collection over when that is what is meant.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, IndexBindingError } from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { ChromaClient } from 'chromadb';
import { afterEach, describe, expect, it } from 'vitest';
import { CHROMA_OWNER_METADATA_KEY, ChromaVectorStore } from '../src/chroma-vector-store.js';
import { chromaUrl, dropCollection, uniqueCollection, vector } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A collection another application filled through the chromadb client: two documents, no dualwrite keys. */
async function applicationCollection(): Promise<{ name: string; ids: () => Promise<string[]> }> {
  const name = uniqueCollection('app');
  const url = new URL(chromaUrl());
  const client = new ChromaClient({ host: url.hostname, port: Number(url.port) });
  cleanups.push(() => dropCollection(chromaUrl(), name));
  const collection = await client.createCollection({
    name,
    embeddingFunction: null,
    configuration: { hnsw: { space: 'cosine' } },
  } as never);
  await collection.add({
    ids: ['app-1', 'app-2'],
    embeddings: [vector(1), vector(2)],
    documents: ['an application document', 'another one'],
    metadatas: [{ source: 'app' }, { version: 7 }],
  });
  const ids = async () =>
    (await (await client.getCollection({ name, embeddingFunction: null } as never)).get()).ids.sort();
  return { name, ids };
}

async function open(collection: string, indexBinding?: 'rebind') {
  const dir = await mkdtemp(join(tmpdir(), 'dw-chroma-foreign-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const vectorStore = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 8 });
  const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
  return createDualWrite({
    relational,
    vector: vectorStore,
    strategy: 'batch',
    ...(indexBinding ? { indexBinding } : {}),
  });
}

/**
 * A process of this source delivers to a new collection, which is then deleted and created again under its name by
 * someone else (same dimension and distance) with `metadata` and the documents `ids`; the process then writes once
 * more. Resolves once its delivery stopped (or after 10 s). The process is closed without a drain by the cleanups
 * (its last write stays pending: that collection is not this source's).
 */
async function replacedWhileRunning(prefix: string, replacement: { metadata?: object; ids?: string[] }) {
  const name = uniqueCollection(prefix);
  cleanups.push(() => dropCollection(chromaUrl(), name));
  const dw = await open(name);
  cleanups.push(async () => {
    await dw.close({ drain: false });
  });
  await dw.put({ id: 'ours', text: 'ours', metadata: {}, embedding: vector(3) });
  await dw.flush({ timeoutMs: 20_000 });
  const url = new URL(chromaUrl());
  const client = new ChromaClient({ host: url.hostname, port: Number(url.port) });
  await client.deleteCollection({ name });
  const theirs = await client.createCollection({
    name,
    embeddingFunction: null,
    configuration: { hnsw: { space: 'cosine' } },
    ...(replacement.metadata ? { metadata: replacement.metadata } : {}),
  } as never);
  const ids = replacement.ids ?? [];
  if (ids.length > 0) await theirs.add({ ids, embeddings: ids.map((_, i) => vector(10 + i)) });
  await dw.put({ id: 'later', text: 'written after', metadata: {}, embedding: vector(5) });
  const deadline = Date.now() + 10_000;
  while (!(await dw.stats()).deliveryStopped && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  return { dw, theirs };
}

describe('another application’s collection', () => {
  it('is refused at start with IndexBindingError on rows, and its documents stay', async () => {
    const app = await applicationCollection();
    const error = await open(app.name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IndexBindingError);
    expect((error as IndexBindingError).fields).toEqual(['rows']);
    expect((error as Error).message).toContain('2 of the first 2 not written by dualwrite');
    expect(await app.ids()).toEqual(['app-1', 'app-2']);
  });

  it('replacing the collection while a process runs: nothing written to it, its documents stay, delivery stops', async () => {
    // Another application's: its documents, no owner token.
    const { dw, theirs } = await replacedWhileRunning('replaced', { ids: ['app-1', 'app-2', 'app-3'] });
    expect((await dw.stats()).deliveryStopped, 'delivery stops').toMatch(/rows dualwrite did not write/);
    // None of this source's records is in that collection: nothing reads synced or flushed.
    expect((await dw.syncStatus('ours')).state).toBe('drifted');
    expect((await dw.stats()).indexDrift?.reason).toMatch(/rows dualwrite did not write/);
    await expect(dw.flush({ timeoutMs: 2_000 })).rejects.toBeInstanceOf(IndexBindingError);
    await dw.checkIndex().catch(() => {});
    expect((await theirs.get()).ids.sort(), 'their documents stay, none of ours lands').toEqual([
      'app-1',
      'app-2',
      'app-3',
    ]);
  });

  it("replaced by another source's empty collection (its owner token): nothing of this source is written to it", async () => {
    // Another source of truth opened the name first: created it, stamped its owner token, wrote nothing yet.
    const { dw, theirs } = await replacedWhileRunning('other-source', {
      metadata: { [CHROMA_OWNER_METADATA_KEY]: 'another-source-token' },
    });
    expect((await dw.stats()).deliveryStopped, 'delivery stops').toMatch(/owner/);
    expect((await theirs.get()).ids, 'nothing of this source written to it').toEqual([]);
    await expect(dw.flush({ timeoutMs: 2_000 })).rejects.toBeInstanceOf(IndexBindingError);
  });

  it("is taken over with indexBinding: 'rebind' (its rows removed as orphans)", async () => {
    const app = await applicationCollection();
    const dw = await open(app.name, 'rebind');
    try {
      await dw.put({ id: 'ours', text: 'ours', metadata: {}, embedding: vector(3) });
      await dw.flush({ timeoutMs: 20_000 });
      await dw.reconcile();
      await dw.flush({ timeoutMs: 20_000 });
      expect(await app.ids()).toEqual(['ours']);
    } finally {
      await dw.close();
    }
  });

  it('a collection dualwrite filled but never stamped (restored from an old backup) is claimed', async () => {
    const name = uniqueCollection('restored');
    cleanups.push(() => dropCollection(chromaUrl(), name));
    const store = await ChromaVectorStore.open({ url: chromaUrl(), collection: name, dimension: 8 });
    await store.upsert([{ id: 'kept', text: 'kept', metadata: {}, embedding: vector(4), version: 3 }]);
    await store.close();
    const dw = await open(name);
    await dw.close();
  });
});
