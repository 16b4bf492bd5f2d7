/**
 * Chroma's server parses some JSON numbers one unit in the last place off (`912866.1402564291` comes back
 * `…292`) and returns float32 subnormals rounded to a neighbour. Records holding such values are what was
 * written, not drift: before, `verifyConsistency` called them mismatched for ever, and each periodic check started
 * a full repair that could not change them (a break-it round).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, verifyConsistency } from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { ChromaClient } from 'chromadb';
import { afterEach, expect, it } from 'vitest';
import { ChromaVectorStore } from '../src/chroma-vector-store.js';
import { chromaUrl, dropCollection, uniqueCollection, vector } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A facade over a fresh SQLite file and a new collection `<name>-…`; closed and removed after the test. */
async function facade(name: string) {
  const dir = await mkdtemp(join(tmpdir(), `dw-chroma-${name}-`));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const collection = uniqueCollection(name);
  cleanups.push(() => dropCollection(chromaUrl(), collection));
  const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
  const vectorStore = await ChromaVectorStore.open({ url: chromaUrl(), collection, dimension: 8 });
  const dw = await createDualWrite({
    relational,
    vector: vectorStore,
    strategy: 'batch',
    driftCheck: false,
    closeStores: false,
  });
  cleanups.push(async () => {
    await dw.close();
    await vectorStore.close();
    await relational.close();
  });
  return { relational, vectorStore, dw, collection };
}

it('metadata numbers and subnormal components Chroma rounds on the way back are not drift', async () => {
  const { relational, vectorStore, dw } = await facade('rounding');
  const scores = [912866.1402564291, 0.1 + 0.2, 123456.78901234567, 98765.4321098765, 3.141592653589793e10];
  await dw.putMany(
    scores.map((score, i) => ({
      id: `r${i}`,
      text: `record ${i}`,
      metadata: { score },
      embedding: vector(i),
    })),
  );
  await dw.put({
    id: 'subnormal',
    text: 'tiny components',
    embedding: [2.8e-45, 1e-40, ...vector(9).slice(2)],
  });
  await dw.flush({ timeoutMs: 20_000 });
  const report = await verifyConsistency(relational, vectorStore);
  expect([report.lost, report.stale, report.mismatched, report.orphans]).toEqual([0, 0, 0, 0]);
  // A real edit is still found.
  await vectorStore.upsert([
    {
      id: 'r0',
      text: 'record 0',
      metadata: { score: 912866.15 },
      embedding: vector(0),
      version: (await relational.getRecords(['r0'])).get('r0')!.version,
    },
  ]);
  expect((await verifyConsistency(relational, vectorStore)).mismatched).toBe(1);
});

// helper-75: another tool's key starting with `_dw`, or an array value, was dropped on the way back: such a row
// read consistent and was never repaired.
it('a reserved key or an array value another tool added is a difference, and the repair removes it', async () => {
  const { relational, vectorStore, dw, collection } = await facade('foreign-keys');
  await dw.putMany(
    ['a', 'b', 'c'].map((id, i) => ({ id, text: id, metadata: { k: i }, embedding: vector(i) })),
  );
  await dw.flush({ timeoutMs: 20_000 });
  const u = new URL(chromaUrl());
  const raw = await new ChromaClient({ host: u.hostname, port: Number(u.port) }).getCollection({
    name: collection,
  });
  await raw.update({ ids: ['a'], metadatas: [{ _dw_extra: 'x' }] });
  await raw.update({ ids: ['b'], metadatas: [{ tags: ['x', 'y'] }] });
  const found = await verifyConsistency(relational, vectorStore);
  expect([...found.examples.mismatched].sort()).toEqual(['a', 'b']);
  await dw.reconcile();
  await dw.flush({ timeoutMs: 20_000 });
  const after = await verifyConsistency(relational, vectorStore);
  expect([after.lost, after.stale, after.mismatched, after.orphans]).toEqual([0, 0, 0, 0]);
  const rows = await raw.get({ ids: ['a', 'b'], include: ['metadatas'] as never });
  for (const m of rows.metadatas) expect(Object.keys(m ?? {}).sort()).toEqual(['_dw_version', 'k']);
});
