/**
 * The bound index found at another path: a LanceDB directory reached through a symlink, or moved while the
 * application was down, is the same index — it starts without a repair, and the binding records where it is now.
 * An older copy at another path is still compared with the source of truth at start and repaired; another
 * source's index at another path is still refused.
 */
import { cp, mkdir, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CHROMA_CHECKPOINT_METADATA_KEY, ChromaVectorStore } from '@dualwrite/chroma';
import {
  createDualWrite,
  type DualWrite,
  HashingEmbedder,
  INDEX_REPAIRED_AT_KEY,
  IndexBindingError,
  readBinding,
  type VectorStore,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { ChromaClient } from 'chromadb';
import { describe, expect, inject, it } from 'vitest';
import { DIM, expectConverged, FAST, perTestResources, rec, rejection, waitFor } from './helpers.js';

const { track, dir } = perTestResources();

/**
 * A facade over the SQLite file `path` and the vector store `vector` (closed with it, also when the facade fails to
 * start). `repaired()` is when the latest repair enqueued its repairs (`undefined`: none ever ran).
 */
async function facade<V extends VectorStore>(path: string, vector: V, indexBinding?: 'rebind') {
  const relational = new SqliteRelationalStore({ path });
  let dw: DualWrite;
  try {
    dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      delivery: FAST,
      driftCheck: false,
      strategy: 'batch',
      ...(indexBinding ? { indexBinding } : {}),
    });
  } catch (error) {
    await relational.close();
    await vector.close();
    throw error;
  }
  track(dw);
  return { relational, vector, dw, repaired: () => relational.getMeta(INDEX_REPAIRED_AT_KEY) };
}

/** A facade over the SQLite file `path` and the LanceDB directory `uri`. */
async function open(path: string, uri: string, indexBinding?: 'rebind') {
  return facade(path, await LanceDbVectorStore.open({ uri, dimension: DIM }), indexBinding);
}

/** A facade over the SQLite file `path` and the Chroma collection `collection` at the server URL `url`. */
async function openChroma(path: string, url: string, collection: string) {
  return facade(path, await ChromaVectorStore.open({ url, collection, dimension: DIM }));
}

/**
 * A source with records `a` and `b` delivered to the LanceDB directory `<base>/original` (its facade `first`
 * still open), and a copy of that directory at `<base>/copy`.
 */
async function originalAndCopy(prefix: string) {
  const base = await dir(prefix);
  const path = join(base, 'source.db');
  const original = join(base, 'original');
  const first = await open(path, original);
  await first.dw.putMany([rec('a'), rec('b')]);
  await expectConverged(first.dw, first.relational, first.vector);
  await cp(original, join(base, 'copy'), { recursive: true });
  return { base, path, original, first };
}

describe('the bound index at another path', () => {
  it('LanceDB through a symlink to its directory is the bound index: no binding change, no repair', async () => {
    const base = await dir('dw-moved-link-');
    const path = join(base, 'source.db');
    const real = join(base, 'real', 'lance');
    const first = await open(path, real);
    await first.dw.putMany([rec('a'), rec('b')]);
    await expectConverged(first.dw, first.relational, first.vector);
    const bound = await readBinding(first.relational);
    await first.dw.close();

    await symlink(join(base, 'real'), join(base, 'link'));
    const linked = await open(path, join(base, 'link', 'lance'));
    expect((await linked.vector.identity()).location, 'the real path').toBe(bound!.location);
    expect((await readBinding(linked.relational))?.boundAt, 'the binding was not rewritten').toBe(
      bound!.boundAt,
    );
    await linked.dw.put(rec('c'));
    await expectConverged(linked.dw, linked.relational, linked.vector);
    expect(await linked.vector.count()).toBe(3);
    expect(await linked.repaired(), 'nothing was repaired').toBeUndefined();
  });

  it('LanceDB moved while the application was down: starts, records the new place, repairs nothing', async () => {
    const base = await dir('dw-moved-mv-');
    const path = join(base, 'source.db');
    const before = join(base, 'old', 'lance');
    const first = await open(path, before);
    await first.dw.putMany([rec('a'), rec('b'), rec('c')]);
    await expectConverged(first.dw, first.relational, first.vector);
    await first.dw.close();

    await mkdir(join(base, 'new'));
    const after = join(base, 'new', 'lance');
    await rename(before, after);
    const moved = await open(path, after);
    expect((await readBinding(moved.relational))?.location).toBe(after);
    expect((await moved.dw.stats()).indexDrift).toBeNull();
    await moved.dw.delete('b');
    await moved.dw.put(rec('d'));
    await expectConverged(moved.dw, moved.relational, moved.vector);
    expect(await moved.vector.count()).toBe(3);
    expect(await moved.repaired(), 'nothing was repaired').toBeUndefined();
  });

  it('an older copy of the index at another path is taken for the bound one only to be repaired at start', async () => {
    const base = await dir('dw-moved-copy-');
    const path = join(base, 'source.db');
    const live = join(base, 'live');
    const first = await open(path, live);
    await first.dw.putMany([rec('a', 'first a'), rec('b')]);
    await expectConverged(first.dw, first.relational, first.vector);
    await first.dw.close();
    const copy = join(base, 'copy');
    await cp(live, copy, { recursive: true });
    const again = await open(path, live);
    await again.dw.putMany([rec('a', 'second a'), rec('c')]);
    await again.dw.delete('b');
    await expectConverged(again.dw, again.relational, again.vector);
    await again.dw.close();

    const restored = await open(path, copy);
    await expectConverged(restored.dw, restored.relational, restored.vector);
    expect(await restored.repaired(), 'the copy is behind the source: repaired').toBeDefined();
    expect((await readBinding(restored.relational))?.location).toBe(copy);
    expect((await restored.vector.getRecords!(['a'])).get('a')?.text).toBe('second a');
    expect(await restored.vector.count()).toBe(2);
  });

  // helper-73 (copy vs move): a process left feeding a copy of the index, after another started on the other
  // copy, was taken for one reaching the bound index another way — it kept acknowledging into its copy while the
  // bound one lacked the records, and each side's periodic check repaired its own copy again and again.
  it('a process left feeding a copy of the bound index is held once another moved the binding to the other copy', async () => {
    const { base, path, first: left } = await originalAndCopy('dw-moved-split-');
    const moved = await open(path, join(base, 'copy'));
    expect((await readBinding(moved.relational))?.location).toBe(join(base, 'copy'));
    expect(await moved.repaired(), 'a copy as new as the source needs no repair').toBeUndefined();

    // The process on the original delivers a write, and checks the binding before its ack.
    await left.dw.put(rec('c'));
    await waitFor(async () => (await left.dw.stats()).deliveryStopped !== null, 10_000);
    const stopped = (await left.dw.stats()).deliveryStopped!;
    expect(stopped).toMatch(/copy of the bound index/);
    expect(stopped).toContain(join(base, 'copy'));
    expect(await left.dw.syncStatus('c'), 'nothing acknowledged into the copy').toMatchObject({
      state: 'pending',
    });
    // Its write is the source of truth's: the process on the bound copy delivers it.
    await expectConverged(moved.dw, moved.relational, moved.vector);
    expect((await moved.vector.getRecords!(['c'])).has('c')).toBe(true);
    expect(await moved.vector.count()).toBe(3);
    // It acknowledged nothing into its copy since the move: nothing to repair.
    expect(await moved.repaired(), 'nothing was repaired on the bound copy').toBeUndefined();
  });

  it('Chroma: the bound collection at another spelling of the server URL (localhost for 127.0.0.1) starts', async () => {
    const url = inject('chromaUrl');
    const other = url.replace('//127.0.0.1:', '//localhost:');
    expect(other, 'the test server is on 127.0.0.1').not.toBe(url);
    const collection = `moved-url-${Date.now()}`;
    const path = join(await dir('dw-moved-url-'), 'source.db');
    const openAt = (at: string) => openChroma(path, at, collection);
    const first = await openAt(url);
    await first.dw.putMany([rec('a'), rec('b')]);
    await expectConverged(first.dw, first.relational, first.vector);
    const again = await openAt(other);
    expect((await readBinding(again.relational))?.location).toMatch(/^http:\/\/localhost:/);
    await again.dw.put(rec('c'));
    await expectConverged(again.dw, again.relational, again.vector);
    expect(await again.relational.getMeta(INDEX_REPAIRED_AT_KEY), 'nothing was repaired').toBeUndefined();
    // The process still running on the first spelling checks the binding the second recorded: the same index.
    await first.dw.checkIndex();
    expect((await first.dw.stats()).deliveryStopped, 'the first process still delivers').toBeNull();
    await first.dw.put(rec('d'));
    await expectConverged(first.dw, first.relational, first.vector);
    expect(await first.vector.count()).toBe(4);
  });

  // helper-76: two processes starting at once, one on the original and one on a fresh copy, stamped and recorded
  // alike (or one checked the moved binding before the other's stamp): the original's process acknowledged into
  // its copy for good with driftCheck: false (8 runs of 10 after a first fix).
  it('two processes starting at once on an original and its copy: the one off the binding is held', async () => {
    for (let round = 0; round < 3; round++) {
      const { base, path, original, first } = await originalAndCopy('dw-moved-race-');
      await first.dw.close();
      const [a, b] = await Promise.all([open(path, original), open(path, join(base, 'copy'))]);
      const bindingAt = (await readBinding(a.relational))!.location;
      const [bound, off] = bindingAt === original ? [a, b] : [b, a];
      for (let i = 0; i < 10; i++) await off.dw.put(rec(`w${round}-${i}`));
      await new Promise((r) => setTimeout(r, 600)); // the moving process looks again at its checkpoint
      await off.dw.put(rec(`w${round}-last`));
      await waitFor(async () => (await off.dw.stats()).deliveryStopped !== null, 10_000, 'the hold');
      await expectConverged(bound.dw, bound.relational, bound.vector);
      expect(await bound.vector.count(), `round ${round}`).toBe(13);
    }
  });

  // helper-76: the same index reached another way missed the checkpoint too after it went back in time (restored
  // in place), and the process there was stopped for good; it is held until the repair at the binding's place.
  it('Chroma: a process reaching the bound collection another way is held while it went back, and resumes after the repair', async () => {
    const url = inject('chromaUrl');
    const other = url.replace('//127.0.0.1:', '//localhost:');
    const collection = `moved-rollback-${Date.now()}`;
    const path = join(await dir('dw-moved-rollback-'), 'source.db');
    const openAt = (at: string) => openChroma(path, at, collection);
    const elsewhere = await openAt(other);
    const bound = await openAt(url); // started last: the binding names its spelling
    const movedAt = Date.now();
    await bound.dw.putMany([rec('a'), rec('b')]);
    await expectConverged(bound.dw, bound.relational, bound.vector);
    await bound.dw.checkIndex(); // a checkpoint stamped and recorded
    // The process that moved the binding looks at its checkpoint again up to 5 s after the move (core's
    // MOVE_FOLLOW_UPS_MS) and repairs an index behind it: a rollback inside that window is repaired before the
    // other process's next check can see it (CI, under load: the hold never came).
    await new Promise((r) => setTimeout(r, Math.max(0, movedAt + 5_500 - Date.now())));
    // The collection goes back in time as a restore in place would take it: an older checkpoint.
    const recorded = Number(await bound.relational.getMeta('index-checkpoint'));
    const u = new URL(url);
    const raw = await new ChromaClient({ host: u.hostname, port: Number(u.port) }).getCollection({
      name: collection,
    });
    await raw.modify({ metadata: { ...raw.metadata, [CHROMA_CHECKPOINT_METADATA_KEY]: recorded - 1 } });

    await elsewhere.dw.put(rec('c'));
    await waitFor(async () => (await elsewhere.dw.stats()).deliveryStopped !== null, 10_000);
    expect((await elsewhere.dw.stats()).deliveryStopped).toMatch(/gone back in time/);
    // The process at the binding's place finds it and repairs; the held one resumes and delivers its write.
    await bound.dw.checkIndex();
    expect(
      await bound.relational.getMeta(INDEX_REPAIRED_AT_KEY),
      'repaired at the binding place',
    ).toBeDefined();
    await bound.dw.flush();
    await waitFor(async () => (await elsewhere.dw.stats()).deliveryStopped === null, 10_000);
    await expectConverged(elsewhere.dw, elsewhere.relational, elsewhere.vector);
    expect(await elsewhere.vector.count()).toBe(3);
  });

  it("another source's index at another path is still refused (its owner token is not this source's)", async () => {
    const base = await dir('dw-moved-other-');
    const mine = await open(join(base, 'mine.db'), join(base, 'mine'));
    await mine.dw.put(rec('m'));
    await mine.dw.flush();
    const theirs = await open(join(base, 'theirs.db'), join(base, 'theirs'));
    await theirs.dw.put(rec('t'));
    await theirs.dw.flush();
    await mine.dw.close();
    await theirs.dw.close();
    // Their directory copied over a path this source is then configured with: same table name, another owner.
    await cp(join(base, 'theirs'), join(base, 'elsewhere'), { recursive: true });
    const error = await rejection(open(join(base, 'mine.db'), join(base, 'elsewhere')));
    expect(error).toBeInstanceOf(IndexBindingError);
    expect(error.fields).toEqual(['location']);
  });
});
