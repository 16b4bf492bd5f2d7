/**
 * Two sync-2pc writers on one id — two facades over the same SQLite file and LanceDB directory, each with
 * its own connection and its own in-process lock, exactly like two application processes. The interleavings
 * are forced deterministically with gates (a held vector call, a writer held between its vector write and
 * its commit transaction).
 *
 * The first two tests show orderings the strategy handles. The last two are the bugs this suite found
 * (see the package README, "Bugs found"), fixed in core and the stores; they now guard against regressions.
 */
import { join } from 'node:path';
import {
  createDualWrite,
  type DualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  type VectorRecord,
  verifyConsistency,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncLock, DelayedRelationalStore } from '../src/delayed-relational-store.js';
import { TracingVectorStore } from '../src/tracing-vector-store.js';
import { DIM, FAST, rec, tempDir, waitFor } from './helpers.js';

/** The real LanceDB store with its version fence switched off: what a store without one (Chroma) does. */
class Unfenced extends FaultyVectorStore {
  override get versionFence(): boolean {
    return false;
  }
  override upsert(records: readonly VectorRecord[]) {
    return super.upsert(records);
  }
}

/** A promise with its resolver. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** One sync-2pc writer (a facade with its own SQLite connection and LanceDB connection). */
interface Writer {
  dw: DualWrite;
  relational: SqliteRelationalStore;
  vector: LanceDbVectorStore;
  /** When set, the next vector write carrying `id` waits for `until`. */
  holdVector: { id: string; until: Promise<void> } | undefined;
  /** When set, the writer waits for `until` before its next transaction that follows a vector write of `id`. */
  holdCommit: { id: string; until: Promise<void>; armed: boolean } | undefined;
}

describe('sync-2pc: two writers race on one id', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  async function setup(options: { unfenced?: boolean } = {}): Promise<[Writer, Writer, string]> {
    const { dir, remove } = await tempDir('dualwrite-2pc-race-');
    cleanups.push(remove);
    const lock = new AsyncLock(); // two "processes" in one: see DelayedRelationalStoreOptions.lock
    const open = async (): Promise<Writer> => {
      const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
      const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM });
      const w = { holdVector: undefined, holdCommit: undefined } as unknown as Writer;
      const tracing = new TracingVectorStore(options.unfenced ? new Unfenced(vector) : vector, {
        gate: async (_op, ids) => {
          const hold = w.holdVector;
          if (hold && ids.includes(hold.id)) {
            w.holdVector = undefined;
            await hold.until;
          }
        },
        onCall: (call) => {
          if (w.holdCommit && call.ids.includes(w.holdCommit.id)) w.holdCommit.armed = true;
        },
      });
      const delayed = new DelayedRelationalStore(relational, {
        lock,
        beforeBegin: async () => {
          const hold = w.holdCommit;
          if (hold?.armed) {
            w.holdCommit = undefined;
            await hold.until;
          }
        },
      });
      w.dw = await createDualWrite({
        relational: delayed,
        vector: tracing,
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'sync-2pc',
        // Every writer here is alive, only held: none may be taken for abandoned while a test holds it (a writer
        // that outlives its intent is refused at its commit: core's sync-2pc-outlived-intent test).
        delivery: { ...FAST, intentTtlMs: 30_000 },
      });
      w.relational = relational;
      w.vector = vector;
      cleanups.push(() => w.dw.close({ drain: false, timeoutMs: 2_000 }));
      return w;
    };
    return [await open(), await open(), dir];
  }

  async function settle(a: Writer, b: Writer) {
    await a.dw.flush({ timeoutMs: 10_000 });
    await b.dw.flush({ timeoutMs: 10_000 });
    // Nothing is pending anywhere (no outbox entry, no intent): what the index holds now, it keeps.
    expect(await a.relational.outboxStats(Date.now())).toMatchObject({ depth: 0, deadLetters: 0 });
    expect(await a.relational.listExpiredIntents!(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    return verifyConsistency(a.relational, a.vector);
  }

  /** Writer A's put of `x` prepared (version v) with its vector write held; B is free. */
  async function olderWriteInFlight() {
    const [a, b] = await setup();
    await a.dw.put(rec('x', 'original'));
    const releaseA = gate();
    a.holdVector = { id: 'x', until: releaseA.opened };
    const putA = a.dw.put(rec('x', 'written by A'));
    await new Promise((r) => setTimeout(r, 50));
    return { a, b, releaseA, putA };
  }

  /** Whether `call` is still running after `ms`. */
  async function stillRunning(call: Promise<unknown>, ms: number): Promise<boolean> {
    const timer = new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms));
    return (await Promise.race([call.then(() => 'returned' as const), timer])) === 'waiting';
  }

  it('the later writer commits first while the earlier one is still writing its vector: it returns only once the older write cannot land after it (was a bug)', async () => {
    const { a, b, releaseA, putA } = await olderWriteInFlight();
    const putB = b.dw.put(rec('x', 'written by B')); // prepares v+1, writes, commits, waits for redelivery
    // (Before the fix B returned here, synced, while A's older vector write could still land over it: found by
    // three processes writing one id, about one call in 120.)
    expect(await stillRunning(putB, 800), 'B returned while an older write of x was in flight').toBe(true);
    releaseA.open(); // A's older vector lands after B's; A's commit sees B's newer row and repairs
    const [rA, rB] = await Promise.all([putA, putB]);
    expect(rB.version!).toBeGreaterThan(rA.version!);
    expect(rB.deferred).toBeUndefined();
    // What B's call promised holds when it returns: the index has B's version.
    expect((await a.vector.getVersions(['x'])).get('x')).toBe(rB.version);
    const report = await settle(a, b);
    expect(report).toMatchObject({ lost: 0, stale: 0, mismatched: 0, orphans: 0 });
    expect((await a.dw.get('x'))!.text).toBe('written by B');
  });

  it('a transaction() writing an id another writer’s older vector write is in flight for returns only after it (was a bug)', async () => {
    const { a, b, releaseA, putA } = await olderWriteInFlight();
    const txB = b.dw.transaction(async (uow) => {
      await uow.put(rec('x', 'written by B'));
    });
    expect(await stillRunning(txB, 800), 'B’s transaction returned while an older write was in flight').toBe(
      true,
    );
    releaseA.open();
    await Promise.all([putA, txB]);
    const committed = await a.dw.get('x');
    expect(committed!.text).toBe('written by B');
    expect((await a.vector.getVersions(['x'])).get('x')).toBe(committed!.version);
    expect(await settle(a, b)).toMatchObject({ lost: 0, stale: 0, mismatched: 0, orphans: 0 });
  });

  it('vector writes land in version order: converges', async () => {
    const [a, b] = await setup();
    await a.dw.put(rec('x', 'original'));
    const releaseB = gate();
    b.holdCommit = { id: 'x', until: releaseB.opened, armed: false };
    const putB = b.dw.put(rec('x', 'written by B'));
    await new Promise((r) => setTimeout(r, 50));
    const rA = await a.dw.put(rec('x', 'written by A'));
    releaseB.open();
    const rB = await putB;
    expect(rA.version!).toBeGreaterThan(rB.version!);
    const report = await settle(a, b);
    expect(report).toMatchObject({ lost: 0, stale: 0, mismatched: 0, orphans: 0 });
    expect((await a.dw.get('x'))!.text).toBe('written by A');
  });

  it.each([
    ['fenced', false],
    ['unfenced', true],
  ])(
    'the earlier writer’s vector write comes last but it commits first: the index still converges (%s; was a bug)',
    async (_, unfenced) => {
      const [a, b] = await setup({ unfenced });
      await a.dw.put(rec('x', 'original'));
      await a.dw.flush();
      const releaseA = gate();
      const releaseB = gate();
      a.holdVector = { id: 'x', until: releaseA.opened };
      b.holdCommit = { id: 'x', until: releaseB.opened, armed: false };
      const putA = a.dw.put(rec('x', 'written by A')); // prepares v2; vector write held
      await new Promise((r) => setTimeout(r, 50));
      const putB = b.dw.put(rec('x', 'written by B')); // prepares v3; index ← v3; held before its commit
      await new Promise((r) => setTimeout(r, 100));
      // A's vector write comes last: the fence refuses v2 over v3 (on a store without a fence it lands). A commits v2
      // queued, B's intent is live: A waits for B, which is held, and says so (`deferred`).
      releaseA.open();
      const rA = await putA;
      expect(rA.deferred).toBe(true);
      releaseB.open(); // B commits v3 over v2; A's repair entry is pending: B re-delivers too
      const rB = await putB;
      expect(rB.version!).toBeGreaterThan(rA.version!);
      const committed = await a.dw.get('x');
      expect(committed).toMatchObject({ text: 'written by B', version: rB.version });
      // Neither commit claimed the index holds its version; B's call waited for the redelivery the outbox made
      // instead (helper-55), so it returned with its version acknowledged in the index.
      expect(rB.deferred).toBeUndefined();
      expect(committed!.syncedVersion).toBe(rB.version);
      expect((await a.vector.getVersions(['x'])).get('x')).toBe(rB.version);
      const report = await settle(a, b);
      // (Before the fix both commits claimed "synced", nothing was pending, and the index kept A's v2.)
      expect(report, `index holds ${JSON.stringify([...(await a.vector.getVersions(['x']))])}`).toMatchObject(
        {
          lost: 0,
          stale: 0,
          orphans: 0,
        },
      );
    },
  );

  it('a writer committed and delivered between the other’s prepare and commit cannot leave the index behind (was a bug, found by the sibling-writer soak on Chroma)', async () => {
    const [a, b] = await setup({ unfenced: true });
    await a.dw.put(rec('x', 'original'));
    await a.dw.flush();
    const commitA = gate();
    const vectorB = gate();
    const deliveryA = gate();
    const commitB = gate();
    // Only A's worker may deliver A's entry: B's drainer shares the outbox and could claim it first (it did
    // once in CI), consuming B's vector hold with the wrong write. B's own put writes the index inline.
    b.dw.pause();
    a.holdCommit = { id: 'x', until: commitA.opened, armed: false };
    const putA = a.dw.put(rec('x', 'written by A')); // prepares vA; index ← vA; held before its commit
    await waitFor(() => a.holdCommit === undefined, 5_000, 'A held before its commit'); // consumed: A waits
    b.holdVector = { id: 'x', until: vectorB.opened };
    b.holdCommit = { id: 'x', until: commitB.opened, armed: false };
    const putB = b.dw.put(rec('x', 'written by B')); // prepares vB > vA (no entry yet); vector write held
    await new Promise((r) => setTimeout(r, 100));
    a.holdVector = { id: 'x', until: deliveryA.opened }; // A's worker will deliver A's entry: hold it
    commitA.open(); // A commits vA; B's intent is live, so A enqueues vA instead of claiming synced
    const rA = await putA;
    // A's call waited for that redelivery, which is held here: past RACED_REDELIVERY_WAIT_MS it said so.
    expect(rA.deferred).toBe(true);
    vectorB.open(); // index ← vB; B is held before its commit
    await waitFor(
      async () => ((await a.vector.getVersions(['x'])).get('x') ?? 0) > rA.version!,
      5_000,
      'B’s vector write',
    );
    deliveryA.open(); // A's worker writes the record's state (vA) over vB — no fence — and acknowledges
    await waitFor(async () => (await a.relational.getOutboxEntry('x')) === undefined, 5_000, 'A’s delivery');
    expect((await a.vector.getVersions(['x'])).get('x')).toBe(rA.version);
    b.dw.resume();
    commitB.open(); // B commits vB: the record moved since B's prepare, so B must not claim "synced"
    const rB = await putB;
    expect(rB.version!).toBeGreaterThan(rA.version!);
    const report = await settle(a, b);
    // (Before the fix B claimed synced with nothing pending, and the index kept A's vA for ever.)
    expect(report, `index holds ${JSON.stringify([...(await a.vector.getVersions(['x']))])}`).toMatchObject({
      lost: 0,
      stale: 0,
      orphans: 0,
    });
  });

  it('a fenced delivery never rewrites a record whose sync-2pc write is between its vector write and its commit', async () => {
    const [a, b] = await setup();
    await a.dw.put(rec('x', 'original'));
    await a.dw.flush();
    // A repair entry for x is pending (reconcile found drift); both drainers held for now.
    a.dw.pause();
    b.dw.pause();
    await a.vector.delete(['x']);
    expect((await a.dw.reconcile()).repairsEnqueued).toBe(1);
    const commitA = gate();
    a.holdCommit = { id: 'x', until: commitA.opened, armed: false };
    const putA = a.dw.put(rec('x', 'written by A')); // prepares v2; index ← v2; held before its commit
    await waitFor(() => a.holdCommit === undefined, 5_000, 'A held before its commit');
    b.dw.resume(); // B's worker delivers the repair (the committed v1): the fence refuses it (index has v2)
    await new Promise((r) => setTimeout(r, 400));
    // The index is ahead of the record, but A's intent is live: the record must not be rewritten.
    expect((await b.relational.getRecords(['x'])).get('x')).toMatchObject({ text: 'original' });
    commitA.open();
    const rA = await putA;
    a.dw.resume();
    await settle(a, b);
    // (Before the fix B rewrote x at v3 with the original text; A's commit then saw v3 > v2 and dropped its
    // acknowledged write.)
    expect(await a.dw.get('x')).toMatchObject({ text: 'written by A', version: rA.version });
    expect(await verifyConsistency(a.relational, a.vector)).toMatchObject({
      lost: 0,
      stale: 0,
      mismatched: 0,
      orphans: 0,
    });
  });

  it('an acknowledged delete is not undone by an older concurrent put (was a bug: tombstone purged under a live intent)', async () => {
    const [a, b] = await setup();
    await a.dw.put(rec('x', 'original'));
    await a.dw.flush();
    // A repair for x is pending (reconcile found drift): both writers see x as contended.
    a.dw.pause();
    b.dw.pause();
    await a.vector.delete(['x']);
    expect((await a.dw.reconcile()).repairsEnqueued).toBe(1);
    const releaseA = gate();
    a.holdVector = { id: 'x', until: releaseA.opened };
    const putA = a.dw.put(rec('x', 'written by A')); // prepares v2 (contended); vector write held
    await new Promise((r) => setTimeout(r, 50));
    const del = await b.dw.delete('x'); // prepares v3, deletes from the index, commits tombstone v3 + outbox
    expect(del.changed).toBe(true);
    expect(del.deferred, 'raced, and B delivers nothing while paused: left to the outbox at once').toBe(true);
    b.dw.resume();
    await b.dw.flush(); // B's worker applies the delete; the tombstone stays while A's intent is live
    expect((await b.relational.getRecords(['x'], { includeDeleted: true })).get('x')).toMatchObject({
      deleted: true,
      version: del.version,
    });
    releaseA.open(); // A's commit sees the newer tombstone and does not write its older v2 back
    const rA = await putA;
    a.dw.resume();
    await settle(a, b);
    expect(rA.version!).toBeLessThan(del.version!);
    // The delete (version v3) was acknowledged after A prepared v2; versions per id must only grow, so the
    // record must stay deleted — instead it is live again at v2.
    expect(
      await a.dw.get('x'),
      'x resurrected at an older version than its acknowledged delete',
    ).toBeUndefined();
  });
});
