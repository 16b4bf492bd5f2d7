import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { OutboxLease, TwoPhaseIntent } from '../../contracts/outbox.js';
import { enqueueRepairs, readOutboxEntry } from '../../contracts/relational-operations.js';
import type { RelationalStore } from '../../contracts/relational-store.js';
import { hasIntentLog } from '../../contracts/relational-store.js';
import { rollBackIntent } from '../../write/roll-back-intent.js';
import { MemoryRelationalStore } from '../memory-relational-store.js';
import {
  putAll,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';

/** Seeds of the random histories (fixed, so a failure replays). */
const SEEDS = [20261201, 7, 4242];
/** Steps per history. */
const STEPS = 200;

/** mulberry32: a tiny seeded PRNG. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)) };
}

/** What a store shows of one id: its outbox entry and its record row. */
async function snapshot(store: RelationalStore, ids: readonly string[], now: number) {
  const records = await store.getRecords(ids, { includeDeleted: true });
  return {
    stats: await store.outboxStats(now),
    ids: await Promise.all(
      ids.map(async (id) => {
        const r = records.get(id);
        return {
          id,
          entry: await readOutboxEntry(store, id),
          record: r && { version: r.version, deleted: r.deleted, syncedVersion: r.syncedVersion },
        };
      }),
    ),
  };
}

/** A lease claimed in both stores at the same step (their tokens differ). */
interface LeasePair {
  store: OutboxLease;
  model: OutboxLease;
}

/**
 * Plays one seeded random history — writes and deletes, claims, acks at the leased or an older version,
 * acks and fails under stale tokens, failures (permanent or not, up to dead letter), releases, renewals,
 * repairs, requeues and sync-2pc intents resolved by recovery — against the store and the in-memory
 * reference model, and compares every outcome and, after every step, each id's outbox entry, record
 * version, tombstone flag, `syncedVersion` and the outbox gauges.
 */
async function playHistory(store: RelationalStore, model: RelationalStore, seed: number): Promise<void> {
  const r = rng(seed);
  const prefix = uid('m');
  const ids = Array.from({ length: 4 }, (_, i) => `${prefix}-${i}`);
  const leases: LeasePair[] = [];
  const intents: TwoPhaseIntent[] = [];
  let now = T0;
  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[r.int(0, items.length - 1)];
  // Mostly a lease of the latest claim (likely still held), sometimes any earlier one (likely stale).
  let latest: LeasePair[] = [];
  const pickLease = () => (r.next() < 0.75 ? pick(latest) : pick(leases));
  const both = async <T>(
    what: string,
    op: (s: RelationalStore) => Promise<T>,
    same = (x: T) => x as unknown,
  ) => {
    const [a, b] = [await op(store), await op(model)];
    expect(same(a), `seed ${seed}, ${what}: the store and the reference model disagree`).toEqual(same(b));
    return [a, b] as const;
  };

  for (let step = 0; step < STEPS; step++) {
    now += r.int(1, 400);
    const kind = r.int(0, 11);
    const id = pick(ids)!;
    const where = `step ${step} (t+${now - T0})`;
    if (kind <= 2) {
      const deleted = r.next() < 0.25;
      await both(`${where}: write ${id}${deleted ? ' (delete)' : ''}`, (s) =>
        putAll(s, [{ id, deleted, now, text: `v${step}` }]),
      );
    } else if (kind === 3) {
      const leaseMs = r.int(100, 2_000);
      const [a, b] = await both(
        `${where}: claim`,
        (s) => s.claimOutbox({ owner: 'w', limit: 100, leaseMs, now }),
        (ls) => ls.map((l) => `${l.recordId}@${l.version}`).sort(),
      );
      const byId = new Map(b.map((l) => [l.recordId, l]));
      latest = a.map((l) => ({ store: l, model: byId.get(l.recordId)! }));
      leases.push(...latest);
    } else if (kind >= 4 && kind <= 6) {
      const lease = pickLease();
      if (!lease) continue;
      const older = r.next() < 0.2 ? 1 : 0;
      await both(`${where}: ack ${lease.store.recordId}`, (s) => {
        const l = s === store ? lease.store : lease.model;
        return s.ackOutbox(
          [{ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version - older }],
          now,
        );
      });
    } else if (kind === 7 || kind === 10) {
      const lease = pickLease();
      if (!lease) continue;
      const permanent = r.next() < 0.2;
      const maxAttempts = r.int(1, 3);
      const retryAt = now + r.int(0, 500);
      await both(`${where}: fail ${lease.store.recordId}`, (s) => {
        const l = s === store ? lease.store : lease.model;
        return s.failOutbox({
          recordId: l.recordId,
          leaseToken: l.leaseToken,
          error: `e${step}`,
          permanent,
          maxAttempts,
          retryAt,
          now,
        });
      });
    } else if (kind === 8) {
      const lease = pickLease();
      if (!lease) continue;
      const until = now + r.int(100, 1_000);
      if (r.next() < 0.5)
        await both(`${where}: release ${lease.store.recordId}`, (s) =>
          s.releaseOutbox([s === store ? lease.store : lease.model], until),
        );
      else
        await both(`${where}: renew ${lease.store.recordId}`, (s) =>
          s.renewOutbox([s === store ? lease.store : lease.model], until),
        );
    } else if (kind === 9) {
      const only = r.next() < 0.5 ? undefined : [id];
      if (r.next() < 0.5)
        await both(`${where}: repair ${id}`, (s) => enqueueRepairs(s, [id, `${prefix}-gone`], now));
      else await both(`${where}: requeue`, (s) => s.requeueDeadLetters(only, now));
    } else if (!hasIntentLog(store)) {
      await both(`${where}: requeue`, (s) => s.requeueDeadLetters(undefined, now));
    } else if (r.next() < 0.6 || intents.length === 0) {
      const intent = { token: randomUUID(), recordId: id, version: 1, expiresAt: now };
      intents.push(intent);
      await both(`${where}: intent on ${id}`, (s) => s.transaction((tx) => tx.putIntent!(intent)));
    } else {
      const intent = intents.shift()!;
      await both(`${where}: roll back an intent`, (s) => rollBackIntent(s, intent, now));
    }
    await both(`${where}: state`, (s) => snapshot(s, [...ids, `${prefix}-gone`], now));
  }
}

/** RelationalStore contract checks: agreement with the in-memory reference model. */
export const modelChecks = {
  'a random outbox history leaves the store exactly where the reference model leaves it': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, async (store) => {
      // One model for all seeds: both version sequences then advance in step.
      const model = new MemoryRelationalStore();
      await model.init();
      for (const seed of SEEDS) await playHistory(store, model, seed);
      await model.close();
    }),
} satisfies Record<string, RelationalStoreCheck>;
