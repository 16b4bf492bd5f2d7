/**
 * A LanceDB table replaced by an older copy under a running store is seen by the next write (`takeRewind`),
 * and nothing an ordinary life does to a table — no-op writes, deletes of unknown ids, optimize, handle
 * refreshes, another process's commits — looks like one.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LanceDbVectorStore } from '../src/index.js';
import { closedAfterEach, record } from './helpers.js';

const DIM = 4;
const cleanup = closedAfterEach();

function open(
  uri: string,
  options: {
    refreshTableEvery?: number;
    readConsistencyIntervalSeconds?: number;
    retainVersionsMs?: number;
  } = {},
) {
  return cleanup.open({ uri, dimension: DIM, ...options });
}

/**
 * A store with a/b written, a copy of its directory taken, then c written and (unless `oneCommitBehind`) b
 * deleted: the copy is one or two versions behind.
 */
async function withOlderCopy(oneCommitBehind = false) {
  const base = await cleanup.dir();
  const uri = join(base, 'lance');
  const store = await open(uri);
  await store.upsert([record('a', DIM)]);
  await store.upsert([record('b', DIM)]);
  await cp(uri, join(base, 'copy'), { recursive: true });
  await store.upsert([record('c', DIM)]);
  if (!oneCommitBehind) await store.delete(['b']);
  const restore = async () => {
    await rm(uri, { recursive: true });
    await cp(join(base, 'copy'), uri, { recursive: true });
  };
  return { store, restore };
}

describe('LanceDB: a table rewound under a running store', () => {
  it.each([
    ['an upsert', (s: LanceDbVectorStore) => s.upsert([record('d', DIM, { version: 9 })])],
    ['a delete', (s: LanceDbVectorStore) => s.delete(['a'])],
    [
      'a fenced upsert that changes nothing',
      (s: LanceDbVectorStore) => s.upsert([record('a', DIM, { version: 0 })], { ifNewer: true }),
    ],
    ['a delete that matches nothing', (s: LanceDbVectorStore) => s.delete(['nope'])],
    ['an optimize', (s: LanceDbVectorStore) => s.optimize()],
  ])('is reported once by takeRewind after %s, also one commit behind', async (_what, write) => {
    for (const oneCommitBehind of [false, true]) {
      const { store, restore } = await withOlderCopy(oneCommitBehind);
      expect(store.takeRewind()).toBeUndefined();
      await restore();
      await write(store);
      expect(store.takeRewind(), `one commit behind: ${oneCommitBehind}`).toMatch(
        /went back from \d+ to \d+: an older copy of the index was restored/,
      );
    }
  });

  it('is reported once; the lineage continues from the copy', async () => {
    const { store, restore } = await withOlderCopy();
    expect(store.takeRewind()).toBeUndefined();
    await restore();
    await store.upsert([record('d', DIM, { version: 9 })]);
    expect(store.takeRewind()).toMatch(/went back from \d+ to \d+: an older copy of the index was restored/);
    expect(store.takeRewind(), 'once').toBeUndefined();
    // The table's lineage continues from the copy: later writes are not reported again.
    await store.upsert([record('e', DIM)]);
    await store.delete(['nope']);
    expect(store.takeRewind()).toBeUndefined();
  });

  it('is not reported for no-op writes, optimize, handle refreshes or another process writing the same table', async () => {
    const base = await cleanup.dir();
    const uri = join(base, 'lance');
    const mine = await open(uri, { refreshTableEvery: 2 });
    const other = await open(uri);
    for (let round = 0; round < 5; round++) {
      await mine.upsert([record(`m${round}`, DIM, { version: 5 })]);
      await other.upsert([record(`o${round}`, DIM)]);
      await mine.upsert([record(`m${round}`, DIM, { version: 1 })], { ifNewer: true }); // fenced: no change
      await mine.delete([`never-${round}`]);
      await other.delete([`o${round}`]);
      if (round === 2) await mine.optimize();
      await mine.upsert([record(`m${round}`, DIM, { version: 6 })]);
      expect(mine.takeRewind(), `round ${round}`).toBeUndefined();
      expect(other.takeRewind(), `round ${round}`).toBeUndefined();
    }
  });

  // helper-43: a handle reading files another handle's optimize had just removed (no retention) got "not found",
  // opened the same table again, and reported it as dropped — each report a needless full repair.
  it('is not reported when a stale handle reads files an optimize removed: the same table is opened again', async () => {
    const uri = join(await cleanup.dir(), 'lance');
    const writer = await open(uri, { retainVersionsMs: 0 });
    for (let i = 0; i < 5; i++) await writer.upsert([record(`w${i}`, DIM)]);
    const stale = await open(uri, { readConsistencyIntervalSeconds: 3_600 });
    expect(await stale.count()).toBe(5); // the handle stays on the version it read
    for (let i = 5; i < 10; i++) await writer.upsert([record(`w${i}`, DIM)]);
    await writer.optimize(); // compacts and removes the files of older versions
    expect((await stale.getVersions(['w1', 'w9'])).size, 'read from the table opened again').toBe(2);
    expect(stale.takeRewind()).toBeUndefined();
  });

  it('maxVersion reads the latest version on a handle with a read consistency interval', async () => {
    const uri = join(await cleanup.dir(), 'lance');
    const writer = await open(uri);
    await writer.upsert([record('a', DIM, { version: 3 })]);
    const stale = await open(uri, { readConsistencyIntervalSeconds: 3_600 });
    expect(await stale.maxVersion()).toBe(3);
    await writer.upsert([record('b', DIM, { version: 8 })]);
    expect(await stale.maxVersion()).toBe(8);
  });
});
