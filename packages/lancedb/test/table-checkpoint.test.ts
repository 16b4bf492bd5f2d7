/**
 * The index checkpoint lives in the table itself: an older copy of the directory, or LanceDB's own time travel,
 * brings back the checkpoint it held then; and a handle with a read consistency interval still reads the latest.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@lancedb/lancedb';
import { describe, expect, it } from 'vitest';
import { closedAfterEach, record } from './helpers.js';

const DIM = 4;
const cleanup = closedAfterEach();

function open(uri: string, readConsistencyIntervalSeconds?: number) {
  return cleanup.open({
    uri,
    dimension: DIM,
    ...(readConsistencyIntervalSeconds === undefined ? {} : { readConsistencyIntervalSeconds }),
  });
}

async function lanceDir() {
  const base = await cleanup.dir();
  return { base, uri: join(base, 'lance') };
}

describe('LanceDB: the index checkpoint', () => {
  it('goes back with an older copy of the directory', async () => {
    const { base, uri } = await lanceDir();
    const store = await open(uri);
    await store.upsert([record('a', DIM)]);
    await store.stampCheckpoint(4);
    await cp(uri, join(base, 'copy'), { recursive: true });
    await store.stampCheckpoint(5);
    await store.upsert([record('b', DIM)]);
    await store.close();
    await rm(uri, { recursive: true });
    await cp(join(base, 'copy'), uri, { recursive: true });
    expect((await (await open(uri)).identity()).checkpoint).toBe(4);
  });

  it("goes back with LanceDB's own checkout + restore", async () => {
    const { uri } = await lanceDir();
    const store = await open(uri);
    await store.stampCheckpoint(7);
    const admin = await (await connect(uri)).openTable('dualwrite');
    const good = await admin.version();
    await store.stampCheckpoint(8);
    await store.upsert([record('a', DIM)]);
    expect((await store.identity()).checkpoint).toBe(8);
    await admin.checkout(good);
    await admin.restore();
    admin.close();
    expect((await store.identity()).checkpoint).toBe(7);
  });

  it('is read at its latest by a handle with a read consistency interval', async () => {
    const { uri } = await lanceDir();
    const stamper = await open(uri);
    const reader = await open(uri, 3_600);
    expect((await reader.identity()).checkpoint).toBeNull();
    await stamper.stampCheckpoint(3);
    expect((await reader.identity()).checkpoint).toBe(3);
    await reader.upsert([record('a', DIM)]);
    await stamper.stampCheckpoint(9);
    expect((await reader.identity()).checkpoint).toBe(9);
  });
});
