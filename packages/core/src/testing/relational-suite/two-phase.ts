import { expect } from 'vitest';
import { readOutboxEntry } from '../../contracts/relational-operations.js';
import type { IntentCommit, PreparedIntent, RelationalStore } from '../../contracts/relational-store.js';
import type { Change } from '../../contracts/write-strategy.js';
import type { Metadata } from '../../record/types.js';
import { changeId, planOne, writeChangesWithOutbox } from '../../write/plan-change.js';
import { rollBackIntent } from '../../write/roll-back-intent.js';
import { commitIntentsInTx, prepareIntentsInTx } from '../../write/two-phase.js';
import {
  drain,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  T0,
  uid,
  withStore,
} from './helpers.js';
import { rng } from './model.js';

/** A prepared sync-2pc call not yet committed. */
interface Pending {
  changes: Change[];
  tokens: string[];
  prepared: PreparedIntent[];
}

/** Records, outbox entries and intents of `ids`, versions relative to `base` (each store has its own sequence). */
async function state(store: RelationalStore, ids: readonly string[], base: number) {
  const v = (version: number | null) => (version === null ? null : version - base);
  const records = await store.getRecords(ids, { includeDeleted: true });
  const entries = await Promise.all(ids.map((id) => readOutboxEntry(store, id)));
  const intents = await store.listExpiredIntents!(Number.MAX_SAFE_INTEGER, 1_000);
  return {
    records: ids.map((id) => {
      const r = records.get(id);
      return r && { ...r, version: v(r.version), syncedVersion: v(r.syncedVersion) };
    }),
    entries: entries.map((e) => e && { ...e, version: v(e.version) }),
    intents: intents
      .map((i) => ({ ...i, version: v(i.version) }))
      .sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0)),
  };
}

/** The two stores side by side: every step is applied to both, then their states compared. */
class SideBySide {
  readonly pending: Pending[] = [];
  #step = 0;

  constructor(
    private readonly fast: RelationalStore,
    private readonly reference: RelationalStore,
    private readonly ids: readonly string[],
    private readonly bases: { fast: number; reference: number },
  ) {}

  get now(): number {
    return T0 + this.#step;
  }

  /** sync-2pc's prepare of `changes` (distinct ids, sorted) on both; their results must agree. */
  async prepare(changes: Change[]): Promise<void> {
    const ids = changes.map(changeId);
    const tokens = ids.map(() => uid('token'));
    const expiresAt = this.now + 30_000;
    const prepared = await this.fast.prepareIntents!(changes, tokens, expiresAt);
    const expected = await this.reference.transaction((tx) => prepareIntentsInTx(tx, ids, tokens, expiresAt));
    const relative = (ps: PreparedIntent[], base: number) =>
      ps.map((p) => ({
        ...p,
        version: p.version - base,
        previous: p.previous && {
          ...p.previous,
          version: p.previous.version - base,
          syncedVersion: p.previous.syncedVersion === null ? null : p.previous.syncedVersion - base,
        },
      }));
    expect(relative(prepared, this.bases.fast), this.context).toEqual(
      relative(expected, this.bases.reference),
    );
    this.pending.push({ changes, tokens, prepared });
    await this.compare();
  }

  /** sync-2pc's commit of the pending call at `index` on both (no-ops' intents dropped), as sync-2pc plans it. */
  async commit(index: number, deferred: boolean): Promise<void> {
    const call = this.pending.splice(index, 1)[0]!;
    const plans = call.changes.map((c, i) => planOne(c, call.prepared[i]!.previous, this.now));
    // Versions of the fast store's prepare, moved to `base` (each store draws from its own sequence).
    const writes = (base: number) =>
      plans.flatMap((plan, i): IntentCommit[] => {
        const shift = (version: number) => version - this.bases.fast + base;
        if (plan.next === null) return [];
        return [
          {
            token: call.tokens[i]!,
            next: { ...plan.next, version: shift(call.prepared[i]!.version) },
            op: plan.op,
            previousVersion: plan.previous === undefined ? null : shift(plan.previous.version),
            contended: call.prepared[i]!.contended,
          },
        ];
      });
    const options = {
      now: this.now,
      deferred,
      dropTokens: call.tokens.filter((_, i) => plans[i]!.next === null),
    };
    const [enqueued, expected] = await Promise.all([
      settle(this.fast.commitIntents!(writes(this.bases.fast), options)),
      settle(
        this.reference.transaction((tx) => commitIntentsInTx(tx, writes(this.bases.reference), options)),
      ),
    ]);
    if ('error' in expected) {
      // A write whose intent recovery resolved: the whole commit is refused, nothing of it written.
      expect(expected.error, this.context).toMatchObject({ code: 'CONFLICT' });
      expect('error' in enqueued ? enqueued.error : enqueued.value, this.context).toMatchObject({
        code: 'CONFLICT',
      });
    } else if ('error' in enqueued) throw enqueued.error;
    // `undefined`: the store does not say which (allowed); what it says must be exactly what it enqueued.
    else if (enqueued.value !== undefined)
      expect([...enqueued.value], `${this.context}: the ids commitIntents enqueued`).toEqual(expected.value);
    await this.compare();
  }

  /** Recovery rolls back an intent (its writer looked dead) on both ({@link rollBackIntent}). */
  async resolve(token: string): Promise<void> {
    const call = this.pending.find((c) => c.tokens.includes(token))!;
    const i = call.tokens.indexOf(token);
    const intent = (base: number) => ({
      token,
      recordId: changeId(call.changes[i]!),
      version: call.prepared[i]!.version - this.bases.fast + base,
    });
    const resolved = await rollBackIntent(this.fast, intent(this.bases.fast), this.now);
    expect(resolved, this.context).toBe(
      await rollBackIntent(this.reference, intent(this.bases.reference), this.now),
    );
    await this.compare();
  }

  /** Another writer, through the outbox path, on both. */
  async write(changes: Change[]): Promise<void> {
    await this.fast.transaction((tx) => writeChangesWithOutbox(tx, changes, this.now));
    await this.reference.transaction((tx) => writeChangesWithOutbox(tx, changes, this.now));
    await this.compare();
  }

  /** A worker delivers and acknowledges every entry, on both. */
  async drain(): Promise<void> {
    await drain(this.fast, this.now);
    await drain(this.reference, this.now);
    await this.compare();
  }

  private get context(): string {
    return `step ${this.#step}`;
  }

  private async compare(): Promise<void> {
    expect(await state(this.fast, this.ids, this.bases.fast), this.context).toEqual(
      await state(this.reference, this.ids, this.bases.reference),
    );
    this.#step++;
  }
}

/** What `promise` settled to. */
function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** RelationalStore contract checks: the optional one-round-trip sync-2pc transactions. */
export const twoPhaseChecks = {
  'prepareIntents and commitIntents (where present) do exactly what the transaction path does': (
    factory: RelationalStoreFactory,
  ) =>
    withStore(factory, (fast) =>
      withStore(factory, async (reference) => {
        if (!fast.prepareIntents || !fast.commitIntents) return;
        const ids = ['a', 'b', 'c'].map((label) => uid(label)).sort();
        const both = new SideBySide(fast, reference, ids, {
          fast: await fast.currentVersion(),
          reference: await reference.currentVersion(),
        });
        const [a, b] = [ids[0]!, ids[1]!];
        const putOf = (id: string, text: string): Change => ({
          op: 'put',
          record: { id, text, metadata: {}, embedding: [0.5, 1] },
        });
        // Each way the commit rule can find that something raced the vector write, one at a time:
        await both.prepare([putOf(a, 'clean')]);
        await both.commit(0, false); // nothing raced: synced
        await both.prepare([putOf(a, 'first')]);
        await both.prepare([putOf(a, 'second')]);
        await both.commit(0, false); // another writer's intent
        await both.drain();
        await both.commit(0, false); // the record moved since prepare (to a lower version)
        await both.drain();
        await both.prepare([putOf(a, 'third')]);
        await both.prepare([putOf(a, 'fourth')]);
        await both.resolve(both.pending[1]!.tokens[0]!);
        await both.commit(0, false); // an outbox entry appeared since prepare
        await both.commit(0, false); // the resolved one: refused
        await both.drain();
        await both.prepare([putOf(a, 'fifth'), putOf(b, 'fifth')]);
        await both.prepare([putOf(a, 'sixth')]);
        await both.commit(1, false); // the record moved past the write's version
        await both.commit(0, true); // deferred
        await both.prepare([putOf(a, 'sixth'), { op: 'delete', id: ids[2]! }]); // no-ops: intents dropped
        await both.commit(0, false);
        await both.write([putOf(b, 'queued')]);
        await both.prepare([putOf(b, 'contended')]);
        await both.commit(0, false); // an outbox entry at prepare
        await both.drain();
        await both.prepare([putOf(b, 'recovered')]);
        await both.resolve(both.pending[0]!.tokens[0]!);
        await both.drain();
        await both.commit(0, false); // the intent was resolved by recovery (and its repair delivered): refused

        // Then random interleavings of the same steps.
        const random = rng(20261202);
        const pick = <T>(items: readonly T[]) => items[random.int(0, items.length - 1)]!;
        const change = (id: string): Change =>
          random.next() < 0.2
            ? { op: 'delete', id }
            : {
                op: 'put',
                record: {
                  id,
                  text: pick(['one', 'two']),
                  metadata: pick<Metadata>([{}, { k: 'x' }]),
                  embedding: [pick([0.5, 0.25]), 1],
                },
              };
        for (let step = 0; step < 150; step++) {
          const roll = random.next();
          if (both.pending.length === 0 || (roll < 0.35 && both.pending.length < 3)) {
            const chosen = [...new Set([pick(ids), pick(ids)])].sort();
            await both.prepare(chosen.map(change));
          } else if (roll < 0.75)
            await both.commit(random.int(0, both.pending.length - 1), random.next() < 0.2);
          else if (roll < 0.82) await both.resolve(pick(pick(both.pending).tokens));
          else if (roll < 0.9) await both.write([change(pick(ids))]);
          else await both.drain();
        }
      }),
    ),
} satisfies Record<string, RelationalStoreCheck>;
