/**
 * A real Chroma server is SIGKILLed (by pid) while writes are running, stays down while writing goes on, and
 * is restarted on the same port and data directory. async-queue and batch keep accepting writes, charge no
 * attempts for the outage (nothing dead-lettered even with maxAttempts 3) and drain the backlog after the
 * restart; sync-2pc fails calls with the typed, retryable BackendUnavailableError and leaves no half-writes.
 */
import { join } from 'node:path';
import { ChromaVectorStore } from '@dualwrite/chroma';
import { type LocalChroma, startLocalChroma } from '@dualwrite/chroma/local-server';
import {
  BackendUnavailableError,
  createDualWrite,
  type DualWrite,
  HashingEmbedder,
  STRATEGY_NAMES,
} from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { DIM, expectConverged, FAST, rec, tempDir } from './helpers.js';

describe.each(STRATEGY_NAMES)('Chroma server killed mid-run and restarted (%s)', (strategy) => {
  let server: LocalChroma | undefined;
  let dw: DualWrite | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await dw?.close({ drain: false, timeoutMs: 2_000 }).catch(() => {});
    await server?.stop();
    await cleanup?.();
    dw = server = cleanup = undefined;
  });

  it('writes during the outage are accepted (async) or fail typed (sync-2pc); nothing lost, nothing dead-lettered', async () => {
    const { dir, remove } = await tempDir('dualwrite-chroma-outage-');
    cleanup = remove;
    const chromaPath = join(dir, 'chroma');
    server = await startLocalChroma({ path: chromaPath });
    const port = server.port;
    const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
    const vector = await ChromaVectorStore.open({ url: server.url, collection: 'outage', dimension: DIM });
    dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy,
      delivery: FAST,
    });
    for (let i = 0; i < 20; i++) await dw.put(rec(`before-${i}`));
    await expectConverged(dw, relational, vector);

    // A writer loop running while the server dies.
    const accepted = new Map<string, number>();
    const failed: { id: string; text: string; error: unknown }[] = [];
    let writing = true;
    const loop = (async () => {
      for (let i = 0; writing; i++) {
        const id = i % 3 === 2 ? `before-${i % 20}` : `during-${i}`; // new ids and updates of existing ones
        const text = `${id} written in the outage loop at ${i}`;
        try {
          const r = await dw!.put(rec(id, text));
          accepted.set(id, r.version!);
        } catch (error) {
          failed.push({ id, text, error });
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    process.kill(server.pid, 'SIGKILL');
    await server.stop(); // reaps the process
    const killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1_500)); // keep writing while it is down
    const statsDown = await dw.stats();
    writing = false;
    await loop;
    const downFor = Date.now() - killedAt;

    if (strategy === 'sync-2pc') {
      expect(failed.length, 'calls made while the server was down fail').toBeGreaterThan(10);
      for (const { error } of failed) {
        expect(error).toBeInstanceOf(BackendUnavailableError);
        expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true, component: 'chroma' });
      }
    } else {
      expect(failed, 'async strategies keep accepting writes').toEqual([]);
      expect(statsDown).toMatchObject({ backendDown: true, deadLetters: 0 });
      expect(statsDown.outboxDepth).toBeGreaterThan(0);
    }

    server = await startLocalChroma({ path: chromaPath, port });
    expect(server.port).toBe(port);
    await expectConverged(dw, relational, vector);
    expect((await dw.stats()).deadLetters).toBe(0);
    expect(await relational.listDeadLetters({ limit: 10 })).toEqual([]);
    expect(
      await relational.listExpiredIntents!(Number.MAX_SAFE_INTEGER, 10),
      'no sync-2pc intent left',
    ).toEqual([]);

    // Every accepted write is in SQL at its version; no failed call left anything behind.
    const all = await relational.getRecords([...accepted.keys(), ...failed.map((f) => f.id)], {
      includeDeleted: true,
    });
    for (const [id, version] of accepted) expect(all.get(id)?.version, id).toBeGreaterThanOrEqual(version);
    for (const { id, text } of failed) {
      const row = all.get(id);
      if (id.startsWith('during-')) expect(row, `failed put of ${id} left a row`).toBeUndefined();
      else expect(row?.text, `failed update of ${id} changed it`).not.toBe(text);
    }
    console.log(
      `[chroma-outage] ${strategy}: down ${downFor} ms, ${accepted.size} writes accepted, ${failed.length} failed typed`,
    );
  });
});
