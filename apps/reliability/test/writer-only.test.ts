/**
 * Writer-only processes (`deliver: false`) next to a worker: the writer starts no delivery and may write
 * records without an embedding (the worker embeds); a process that delivers itself without an embedder
 * refuses such a record at `put` instead of dead-lettering it later. Real SQLite file and LanceDB directory,
 * two facades with their own connections (as two processes would have).
 */
import { join } from 'node:path';
import {
  createDualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  STRATEGY_NAMES,
  ValidationError,
  verifyConsistency,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { describe, expect, it } from 'vitest';
import { DIM, FAST, perTestResources, rec, rejection } from './helpers.js';

const { track, dir } = perTestResources();

async function paths() {
  const base = await dir('dw-writer-only-');
  return { path: join(base, 'source.db'), uri: join(base, 'lance') };
}

describe('writer-only processes', () => {
  for (const strategy of ['async-queue', 'batch'] as const)
    it(`${strategy}: the writer delivers nothing and may omit embeddings; the worker embeds and delivers`, async () => {
      const { path, uri } = await paths();
      const writerVector = new FaultyVectorStore(await LanceDbVectorStore.open({ uri, dimension: DIM }));
      const writer = await createDualWrite({
        relational: new SqliteRelationalStore({ path }),
        vector: writerVector,
        strategy,
        delivery: FAST,
        deliver: false,
        driftCheck: false,
      });
      track(writer);
      for (let i = 0; i < 20; i++) await writer.put(rec(`w-${i}`, `written without an embedding ${i}`));
      await new Promise((r) => setTimeout(r, 300));
      expect(writerVector.callCount(), 'the writer made no vector write').toBe(0);
      expect(await writer.stats()).toMatchObject({ delivering: false, outboxDepth: 20 });
      writer.resume(); // a writer-only process stays writer-only
      expect((await writer.stats()).paused).toBe(true);

      const relational = new SqliteRelationalStore({ path });
      const vector = await LanceDbVectorStore.open({ uri, dimension: DIM });
      const worker = await createDualWrite({
        relational,
        vector,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy,
        delivery: FAST,
        driftCheck: false,
      });
      track(worker);
      const flushed = await writer.flush({ timeoutMs: 20_000 }); // waits for the worker
      expect(flushed).toMatchObject({ pending: 0, deadLetters: 0 });
      expect(writerVector.callCount()).toBe(0);
      expect(await verifyConsistency(relational, vector)).toMatchObject({ records: 20, lost: 0, stale: 0 });
      expect(await worker.search('written without an embedding 7', { k: 1 })).toHaveLength(1);
    });

  for (const strategy of STRATEGY_NAMES)
    it(`${strategy}: a process that delivers without an embedder refuses a record without an embedding at put`, async () => {
      const { path, uri } = await paths();
      const relational = new SqliteRelationalStore({ path });
      const dw = await createDualWrite({
        relational,
        vector: await LanceDbVectorStore.open({ uri, dimension: DIM }),
        strategy,
        delivery: FAST,
        driftCheck: false,
      });
      track(dw);
      const error = await rejection(dw.put(rec('no-embedding')));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as unknown as ValidationError).field).toBe('record.embedding');
      const uowError = await rejection(dw.transaction((uow) => uow.put(rec('no-embedding-uow'))));
      expect((uowError as unknown as ValidationError).field).toBe('record.embedding');
      expect((await relational.getRecords(['no-embedding', 'no-embedding-uow'])).size).toBe(0);
      await dw.put({ ...rec('with-embedding'), embedding: Array.from({ length: DIM }, (_, i) => i + 1) });
      expect((await dw.flush()).deadLetters).toBe(0);
    });
});
