import { randomUUID } from 'node:crypto';
import { enqueueRepairs } from '../contracts/relational-operations.js';
import {
  hasIntentLog,
  type IntentCommit,
  type IntentCommitOptions,
  type RecordWrite,
} from '../contracts/relational-store.js';
import type { Change, StrategyContext, WriteResult } from '../contracts/write-strategy.js';
import { embedWhileBound, unsearchableEmbedding } from '../embedders/embed-while-bound.js';
import { ClosedError, DeadLetteredError, TimeoutError, ValidationError } from '../errors.js';
import { applyToVector, mayStillLand } from '../outbox/apply-to-vector.js';
import { awaitDelivery } from '../outbox/await-delivery.js';
import { classifyFailure } from '../outbox/failure-classification.js';
import type { DrainerOptions } from '../outbox/outbox-drainer.js';
import type { VectorRecord } from '../record/types.js';
import { describeValue } from '../util/describe-value.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { changeId, compareIds, type PlannedChange, planOne, resultOf } from '../write/plan-change.js';
import { commitIntentsInTx, prepareIntentsInTx } from '../write/two-phase.js';
import { UnresolvedIntents } from '../write/unresolved-intents.js';
import { deliverWhatIsDue } from './async-queue-strategy.js';
import { OutboxStrategy } from './outbox-strategy.js';

/** What sync-2pc does when the vector write fails. */
export type VectorFailureMode =
  /** Fail the call with the vector store's typed error; both stores keep their previous state. */
  | 'fail'
  /** Commit the record with an outbox entry and return `deferred: true`; the outbox delivers it later. */
  | 'defer-to-outbox';

/** Options of {@link Sync2pcStrategy}. */
export interface Sync2pcOptions {
  /** Default `'fail'`. */
  onVectorFailure?: VectorFailureMode;
  /** Background workers for repairs and deferred writes. Default 1. */
  repairConcurrency?: number;
  /** Longest wait for a unit of work's records to sync before `transaction()` rejects, ms. Default 30,000. */
  unitOfWorkTimeoutMs?: number;
}

/**
 * Longest wait of a sync-2pc write for the redelivery of an id another process's write raced, ms (at most
 * `unitOfWorkTimeoutMs`): past it the call returns with the write `deferred` (committed, still queued) rather
 * than hold the caller for a lease a killed process left behind.
 */
export const RACED_REDELIVERY_WAIT_MS = 5_000;

/** A change after the prepare: its plan (`next: null` for a no-op), its intent, whether it was contended. */
interface PreparedChange {
  plan: PlannedChange;
  token: string;
  /** An outbox entry for the id existed at prepare: a worker may deliver it concurrently. */
  contended: boolean;
}

/** A prepared change that writes. */
type PreparedWrite = PreparedChange & { plan: { next: RecordWrite } };

/**
 * `sync-2pc`: the call returns only when both stores hold the write.
 *
 * 1. Prepare: in one SQL transaction, read each id's row under its lock, draw a version and log an intent
 *    ({@link prepareIntentsInTx}, or the store's one-round-trip `prepareIntents`); then resolve each change
 *    against the row it read (`planOne`: the no-op check, the embedding reused).
 * 2. Write the vector index, version-fenced: a state older than the one the index holds is refused, and its
 *    commit enqueues the record's current state instead of claiming it synced.
 * 3. Commit: in one SQL transaction, write the records and remove the intents ({@link commitIntentsInTx},
 *    or the store's `commitIntents`). A write whose intent recovery already resolved is refused there with a
 *    `ConflictError` (it outlived `intentTtlMs`; nothing of it is committed) and compensated.
 *
 * If step 2 or 3 fails, compensation restores the index to what SQL holds (the previous state) and the
 * call throws the typed error. If compensation itself fails, or the process dies mid-way, the logged
 * intent outlives its TTL and recovery (on start, and periodically) rolls it back by enqueueing a repair
 * of the record's current state. A background drainer delivers those repairs and `defer-to-outbox` writes.
 */
export class Sync2pcStrategy extends OutboxStrategy {
  readonly name = 'sync-2pc';
  private readonly locks = new KeyedMutex();
  private readonly onVectorFailure: VectorFailureMode;
  private readonly repairConcurrency: number;
  private readonly unitOfWorkTimeoutMs: number;
  /** Set by {@link start}. */
  private unresolved: UnresolvedIntents | undefined;

  constructor(options: Sync2pcOptions = {}) {
    super();
    this.onVectorFailure = options.onVectorFailure ?? 'fail';
    this.repairConcurrency = options.repairConcurrency ?? 1;
    this.unitOfWorkTimeoutMs = options.unitOfWorkTimeoutMs ?? 30_000;
    if (this.onVectorFailure !== 'fail' && this.onVectorFailure !== 'defer-to-outbox')
      throw new ValidationError('onVectorFailure', `is ${JSON.stringify(this.onVectorFailure)}`, {
        component: 'sync-2pc',
        limit: "'fail' | 'defer-to-outbox'",
      });
    if (
      !Number.isInteger(this.repairConcurrency) ||
      this.repairConcurrency < 1 ||
      this.repairConcurrency > 64
    )
      throw new ValidationError(
        'repairConcurrency',
        `must be an integer, got ${describeValue(this.repairConcurrency)}`,
        {
          component: 'sync-2pc',
          limit: '1..64',
        },
      );
    if (!(this.unitOfWorkTimeoutMs > 0))
      throw new ValidationError(
        'unitOfWorkTimeoutMs',
        `must be > 0 ms, got ${describeValue(this.unitOfWorkTimeoutMs)}`,
        {
          component: 'sync-2pc',
          limit: '> 0 ms',
        },
      );
  }

  /**
   * @throws {ValidationError} (`strategy`) when the relational store has no intent log (`hasIntentLog`):
   *   sync-2pc logs an intent before each vector write so a crash between the two can be rolled back.
   */
  override async start(context: StrategyContext): Promise<void> {
    if (!hasIntentLog(context.relational))
      throw new ValidationError(
        'strategy',
        `sync-2pc needs a relational store with the intent log (listExpiredIntents, tx.putIntent, ` +
          `tx.countIntents, tx.deleteIntent); ${context.relational.name} has none — use async-queue or batch`,
        { component: 'sync-2pc' },
      );
    await super.start(context);
    this.unresolved = new UnresolvedIntents(
      context.relational,
      () => context.clock.now(),
      async (tokens) => {
        await this.commitIntents([], { now: context.clock.now(), deferred: false, dropTokens: tokens });
      },
      (n) => this.drainer.wake(n),
    );
  }

  /** Failed calls' intents still to roll back once the source answers (see {@link UnresolvedIntents}). */
  unresolvedWrites(): number {
    return this.unresolved?.size ?? 0;
  }

  override async stop(options: { timeoutMs: number }): Promise<void> {
    this.unresolved?.stop();
    await super.stop(options);
  }

  /**
   * The drainer delivers a unit of work's records and repairs: everything already due in one vector call, at
   * once (no waiting to fill a batch), as async-queue does — one call per record made a 1,500-record
   * `transaction()` outlast `unitOfWorkTimeoutMs` on healthy backends (helper-55).
   */
  protected drainerOptions(ctx: StrategyContext): DrainerOptions {
    return deliverWhatIsDue(this.repairConcurrency, ctx);
  }

  override async write(changes: readonly Change[]): Promise<WriteResult[]> {
    const { results, raced } = await this.locks.run(changes.map(changeId), () => this.writeLocked(changes));
    if (raced.length === 0) return results;
    // Another process's write of an id raced this one (its older vector write may have landed after ours): the
    // commit enqueued the id's current state. The call waits for that delivery — after the ids' locks, so other
    // writes of them go on — so it still returns with the index at the record's version (helper-55); a process
    // whose delivery is paused (or writer-only) says so at once instead: `deferred`, for another to deliver.
    const late = new Set(raced);
    const deferred = () => results.map((r) => (late.has(r.id) && r.changed ? { ...r, deferred: true } : r));
    if (this.drainer.paused) return deferred();
    try {
      await this.deliverNow(raced, Math.min(this.unitOfWorkTimeoutMs, RACED_REDELIVERY_WAIT_MS));
    } catch (error) {
      // Committed either way: only a dead letter is worth an error; a wait cut short (timeout, close(), a store
      // that failed a read) leaves the write queued.
      if (error instanceof DeadLetteredError) throw error;
      return deferred();
    }
    return results;
  }

  /**
   * A unit of work committed outbox entries: deliver them now and wait, so the call is synchronous.
   * @throws {DeadLetteredError} (a `PermanentBackendError`) when any of them was dead-lettered (the index
   *   refused it, or its embedding): committed in SQL, absent from the index until the cause is fixed and it is
   *   requeued.
   * @throws {TimeoutError} after `unitOfWorkTimeoutMs`; the entries stay queued.
   */
  override async afterCommit(ids: readonly string[]): Promise<void> {
    await this.deliverNow(ids, this.unitOfWorkTimeoutMs).catch((error: unknown) => {
      if (!(error instanceof TimeoutError) || !this.drainer.paused) throw error;
      throw new TimeoutError(
        `waiting for ${ids.length} record(s) to sync (delivery is paused in this process, dw.resume() resumes ` +
          'it; they are committed and stay queued)',
        this.unitOfWorkTimeoutMs,
      );
    });
  }

  /**
   * Wakes the drainer for `ids`' outbox entries and waits until none is pending *and* no other writer's sync-2pc
   * write of them is in flight: an older write whose vector call is still under way can land after the delivery
   * this call waited for, and the index would hold the older version after the call returned (F2, seen in about
   * one call in 120 with three processes on LanceDB). Its commit enqueues a redelivery, which the wait then
   * covers (`awaitDelivery`'s `inFlight`: each settled id's intents, then its entry once more).
   * @throws {DeadLetteredError} when any was dead-lettered instead of delivered.
   * @throws {TimeoutError} after `timeoutMs`; the entries stay queued (or are delivered, another writer's write
   *   still in flight: the message says so).
   * @throws {ClosedError} once `stop()` began (the facade closes); the entries stay queued.
   */
  private async deliverNow(ids: readonly string[], timeoutMs: number): Promise<void> {
    this.drainer.wake(ids.length);
    const dead = await awaitDelivery(
      this.ctx.relational,
      ids,
      this.ctx.clock,
      (ms) => this.waitUnlessStopping(ms),
      timeoutMs,
      (settled) => this.withIntents(settled),
    );
    if (dead.length > 0)
      throw new DeadLetteredError(
        dead.map((e) => e.recordId),
        dead[0]!.lastError ?? 'no error recorded',
        { component: 'sync-2pc' },
      );
  }

  /** Resolves at the next delivery or after `ms`; throws {@link ClosedError} once `stop()` began. */
  private async waitUnlessStopping(ms: number): Promise<void> {
    if (this.stopping) throw new ClosedError('sync-2pc delivery');
    await this.drainer.waitForProgress(ms);
    if (this.stopping) throw new ClosedError('sync-2pc delivery');
  }

  /** The ids among `ids` with a sync-2pc intent logged (another writer's, in flight or abandoned). */
  private withIntents(ids: readonly string[]): Promise<string[]> {
    return this.ctx.relational.transaction(async (tx) => {
      const busy: string[] = [];
      for (const id of ids) if ((await tx.countIntents!(id)) > 0) busy.push(id);
      return busy;
    });
  }

  /** The call under the ids' locks; `raced`: ids whose commit enqueued a redelivery (see {@link write}). */
  private async writeLocked(input: readonly Change[]): Promise<{ results: WriteResult[]; raced: string[] }> {
    const { relational, clock, delivery } = this.ctx;
    // Several changes of one id in a call: the last one wins.
    const lastIndex = new Map<string, number>();
    input.forEach((c, i) => {
      lastIndex.set(changeId(c), i);
    });
    // Ids in sorted order (as putMany's transaction path), their locks first and at once: two calls over the same ids in different orders
    // (and the store's other write paths) lock them in one order and cannot deadlock.
    const order = [...lastIndex.values()].sort((a, b) =>
      compareIds(changeId(input[a]!), changeId(input[b]!)),
    );
    const changes = await this.embedMissing(order.map((i) => input[i]!));
    const ids = changes.map(changeId);
    const tokens: string[] = changes.map(() => randomUUID());
    const now = clock.now();
    const expiresAt = now + delivery.intentTtlMs;
    const prepared = relational.prepareIntents
      ? await relational.prepareIntents(changes, tokens, expiresAt)
      : await relational.transaction((tx) => prepareIntentsInTx(tx, ids, tokens, expiresAt));
    const planOf = (change: Change, j: number): PreparedChange => {
      const { previous, version, contended } = prepared[j]!;
      const plan = planOne(change, previous, now);
      const next = plan.next && { ...plan.next, version };
      return { plan: { ...plan, next }, token: tokens[j]!, contended };
    };
    let planned = changes.map(planOf);
    try {
      planned = await this.embedLate(changes, planned, planOf);
    } catch (error) {
      await this.dropIntents(tokens);
      throw error;
    }
    const dropTokens = planned.filter((p) => p.plan.next === null).map((p) => p.token);
    const unembedded = planned.findIndex(
      ({ plan }) => plan.next?.deleted === false && plan.next.embedding === null,
    );
    if (unembedded >= 0) {
      await this.dropIntents(tokens);
      throw new ValidationError(
        `records[${order[unembedded]}].embedding`,
        'is required when no embedder is configured',
        { component: 'sync-2pc' },
      );
    }
    const active = planned.filter((p): p is PreparedWrite => p.plan.next !== null);
    const byId = new Map(planned.map((p) => [p.plan.id, resultOf(p.plan)]));
    const results = input.map((c) => byId.get(changeId(c))!);
    if (active.length === 0) {
      await this.dropIntents(dropTokens);
      return { results, raced: [] };
    }

    let fenced: ReadonlySet<string>;
    try {
      fenced = new Set(await this.writeVectors(active));
    } catch (error) {
      const retryable = (error as { retryable?: boolean }).retryable !== false;
      const inDoubt = this.mayLandUnwatched(error);
      if (this.onVectorFailure !== 'defer-to-outbox' || !retryable) {
        await this.compensate(active, dropTokens, inDoubt);
        throw error;
      }
      try {
        await this.commit(active, dropTokens, { deferred: true });
      } catch (commitError) {
        await this.compensate(active, dropTokens, inDoubt);
        throw commitError;
      }
      if (inDoubt) await this.logInDoubt(active);
      return { results: results.map((r) => (r.changed ? { ...r, deferred: true } : r)), raced: [] };
    }
    let raced: readonly string[];
    try {
      // A write the fence refused (the index holds a newer version of its id: a racing writer's, committed or
      // not) is committed as raced: enqueued, and the call waits for the delivery of the record's current state.
      const written = active.map((a) => (fenced.has(a.plan.id) ? { ...a, contended: true } : a));
      // Committed, the write reads synced: refused (and compensated) when the source was rebound elsewhere meanwhile.
      await this.ctx.assertBound?.();
      raced = await this.commit(written, dropTokens, { deferred: false });
    } catch (error) {
      await this.compensate(active, dropTokens);
      throw error;
    }
    return { results, raced: [...raced] };
  }

  private async embedMissing(changes: readonly Change[]): Promise<Change[]> {
    const { embeddings } = this.ctx;
    let missing = changes.flatMap((c, i) => (c.op === 'put' && c.record.embedding === undefined ? [i] : []));
    if (!embeddings || missing.length === 0) return [...changes];
    // A put that gives no embedding keeps the stored one when its text is unchanged, as `planOne` does for the
    // other strategies: no embedder call, and an embedding a caller gave is not replaced by the model's. (A text
    // another process changes before the prepare is embedded after it: see `embedLate`.)
    const current = await this.ctx.relational.getRecords(missing.map((i) => changeId(changes[i]!)));
    missing = missing.filter((i) => {
      const { record } = changes[i] as Extract<Change, { op: 'put' }>;
      return current.get(record.id)?.text !== record.text;
    });
    if (missing.length === 0) return [...changes];
    const vectors = await embedWhileBound(
      this.ctx,
      embeddings,
      missing.map((i) => (changes[i] as Extract<Change, { op: 'put' }>).record.text),
    );
    const out = [...changes];
    missing.forEach((index, j) => {
      const c = out[index] as Extract<Change, { op: 'put' }>;
      // Refused in the call, before anything is written, as a vector the caller gave would be.
      const error = unsearchableEmbedding(this.ctx.vector, embeddings, c.record.id, vectors[j]!);
      if (error) throw error;
      out[index] = { op: 'put', record: { ...c.record, embedding: vectors[j]! }, embeddingFilled: true };
    });
    return out;
  }

  /**
   * Puts planned without an embedding although an embedder is configured — their text was unchanged when
   * `embedMissing` looked, and another process changed it before the prepare read the row — are embedded now and
   * planned again with it. Nothing else changes.
   */
  private async embedLate(
    changes: readonly Change[],
    planned: PreparedChange[],
    planOf: (change: Change, j: number) => PreparedChange,
  ): Promise<PreparedChange[]> {
    const { embeddings } = this.ctx;
    const late = planned.flatMap(({ plan }, j) =>
      plan.next?.deleted === false && plan.next.embedding === null ? [j] : [],
    );
    if (!embeddings || late.length === 0) return planned;
    const vectors = await embedWhileBound(
      this.ctx,
      embeddings,
      late.map((j) => planned[j]!.plan.next!.text),
    );
    const out = [...planned];
    late.forEach((j, k) => {
      const { record } = changes[j] as Extract<Change, { op: 'put' }>;
      const error = unsearchableEmbedding(this.ctx.vector, embeddings, record.id, vectors[k]!);
      if (error) throw error;
      out[j] = planOf({ op: 'put', record: { ...record, embedding: vectors[k]! }, embeddingFilled: true }, j);
    });
    return out;
  }

  /**
   * Writes the prepared states to the index under the version fence (`ifNewer`, and `atMost` for deletes): a
   * write landing after a newer one of its id must not overwrite it — its process stopped between the prepare and
   * this call for longer than the intent's TTL, and another writer's newer write was acknowledged meanwhile (a
   * break-it round with SIGSTOPped writers: SQL and every check said synced while the index held the older state,
   * 2 of 2 runs). Such a writer's commit is then refused too (`commitStep`).
   * @returns the ids the fence left unwritten (none on a store without a fence).
   */
  private async writeVectors(active: readonly PreparedWrite[]): Promise<string[]> {
    const upserts: VectorRecord[] = [];
    const deletes: string[] = [];
    const deleteVersions = new Map<string, number>();
    for (const { plan } of active) {
      const next = plan.next;
      if (next.deleted) {
        deletes.push(next.id);
        deleteVersions.set(next.id, next.version);
      } else
        upserts.push({
          id: next.id,
          embedding: next.embedding!,
          text: next.text,
          metadata: next.metadata,
          version: next.version,
        });
    }
    return applyToVector(this.ctx, upserts, deletes, { ifNewer: true, deleteVersions });
  }

  /**
   * Commits the records and removes the intents (the no-ops' too) in one transaction, by sync-2pc's commit
   * rule ({@link commitIntentsInTx}; the store's `commitIntents` fast path where it has one).
   */
  private async commit(
    active: readonly PreparedWrite[],
    dropTokens: readonly string[],
    options: { deferred: boolean },
  ): Promise<readonly string[]> {
    const { clock } = this.ctx;
    const writes = active.map(({ plan, token, contended }) => ({
      token,
      next: plan.next,
      op: plan.op,
      previousVersion: plan.previous?.version ?? null,
      contended,
    }));
    // A store that does not say what it enqueued: every write's delivery is awaited (one read each when synced).
    const enqueued =
      (await this.commitIntents(writes, { now: clock.now(), deferred: options.deferred, dropTokens })) ??
      writes.map((w) => w.next.id);
    if (options.deferred) {
      this.drainer.wake(active.length);
      return enqueued;
    }
    // Applied in the call and committed acknowledged (a raced one is acknowledged by its redelivery).
    const redelivered = new Set(enqueued);
    this.ctx.metrics.synced += writes.filter((w) => !redelivered.has(w.next.id)).length;
    await this.purgeTombstones(writes.filter((w) => w.op === 'delete').map((w) => w.next.id));
    return enqueued;
  }

  /**
   * Deletes the tombstones this commit left settled: a delete delivered in the call is committed acknowledged and
   * with no outbox entry, so no ack purges it as under the async strategies. Best effort, after the commit: a
   * tombstone left by a failure is one more row in the records table, nothing else (the call already succeeded).
   */
  private async purgeTombstones(ids: readonly string[]): Promise<void> {
    const { relational } = this.ctx;
    if (ids.length === 0 || !relational.purgeTombstones) return;
    await relational.purgeTombstones(ids).catch(() => {});
  }

  /** sync-2pc's commit transaction: the store's `commitIntents` where it has one, else core's. */
  private async commitIntents(
    writes: readonly IntentCommit[],
    options: IntentCommitOptions,
  ): Promise<readonly string[] | undefined> {
    const { relational } = this.ctx;
    if (relational.commitIntents) return (await relational.commitIntents(writes, options)) ?? undefined;
    return relational.transaction((tx) => commitIntentsInTx(tx, writes, options));
  }

  /**
   * Deletes the intents of changes that turned out to be no-ops (or of a call refused after its prepare).
   * When that fails they are deleted once the source answers (`UnresolvedIntents`); until then each keeps its id
   * reading as in flight.
   */
  private async dropIntents(tokens: readonly string[]): Promise<void> {
    if (tokens.length === 0) return;
    try {
      await this.commitIntents([], { now: this.ctx.clock.now(), deferred: false, dropTokens: tokens });
    } catch {
      this.unresolved?.add([], tokens);
    }
  }

  /**
   * Restores the vector index to what SQL holds for each id at once, so a failed call leaves the index as it
   * was in the common case; then enqueues a repair of each id's current state (`enqueueRepairs`, under the
   * ids' locks), which the drainer delivers under its lease, and deletes the intents. The restore alone cannot
   * be trusted across processes: it reads SQL without the ids' locks, so another process's newer write,
   * committed and delivered between that read and the restore, would be overwritten with nothing queued to
   * repair it (found by a break-it trial on PostgreSQL) — also when the intent is already gone (recovery
   * resolved it after its TTL, or the commit did commit and only its answer was lost). The repair costs one
   * more delivery per compensated id, on a failure path. If SQL is unreachable, the intents expire and
   * recovery resolves them later.
   *
   * A vector write that may still land (`inDoubt`: the call's, or the restore's — see {@link mayLandUnwatched})
   * keeps its intents: this process watches its ids for a late landing (`writesInDoubt`), but if it dies before
   * the watch looks, nobody would — the repair is claimed like any entry, and the late write lands over it
   * unnoticed. Left to expire, the intents are rolled back by whichever process recovers them, and that process
   * watches the ids.
   */
  private async compensate(
    active: readonly PreparedWrite[],
    dropTokens: readonly string[],
    inDoubt = false,
  ): Promise<void> {
    const { relational, clock, metrics } = this.ctx;
    metrics.compensations++;
    const ids = [...new Set(active.map((a) => a.plan.id))];
    try {
      const current = await relational.getRecords(ids, { includeDeleted: true });
      const restore: VectorRecord[] = [];
      const remove: string[] = [];
      for (const id of ids) {
        const rec = current.get(id);
        if (rec && !rec.deleted && rec.embedding)
          restore.push({
            id,
            embedding: rec.embedding,
            text: rec.text,
            metadata: rec.metadata,
            version: rec.version,
          });
        else if (!rec || rec.deleted) remove.push(id);
        // A live record without an embedding yet: the repair below delivers it once it has one.
      }
      await applyToVector(this.ctx, restore, remove);
    } catch (error) {
      // The vector store is still failing: the repairs below converge the index once it is back.
      if (this.mayLandUnwatched(error)) inDoubt = true;
    }
    try {
      await enqueueRepairs(relational, ids, clock.now());
      this.drainer.wake(ids.length);
    } catch {
      // SQL is unreachable too. A vector write that may still land keeps its intents for recovery (see above);
      // the others are rolled back by this process as soon as SQL answers (`UnresolvedIntents`).
      if (!inDoubt)
        this.unresolved?.add(
          active.map(({ plan, token }) => ({ token, recordId: plan.id, version: plan.next.version })),
          dropTokens,
        );
      return;
    }
    await this.dropIntents(inDoubt ? dropTokens : [...active.map((a) => a.token), ...dropTokens]);
  }

  /**
   * Whether a failed vector write may land after this process is gone, so its ids are left to recovery
   * ({@link compensate}, {@link logInDoubt}): it may still land (`mayStillLand`: a timeout, an aborted request, a
   * server error, on a store without a version fence), and it was not an outage (`BACKEND_UNAVAILABLE`: mostly a
   * server that could not be reached, which got nothing to apply later — so an outage's failed calls do not each
   * leave an intent behind; a request cut by a dropped connection counts here too). This process watches every
   * write that may still land itself, outages included (`writesInDoubt`).
   */
  private mayLandUnwatched(error: unknown): boolean {
    return mayStillLand(this.ctx.vector, error) && classifyFailure(error) !== 'outage';
  }

  /**
   * After a deferred commit whose vector write may still land: a fresh intent per write, at the version it
   * committed, so that the process recovering it after `intentTtlMs` (this one, or another if this one dies
   * before its own watch looks) repairs the record's current state and watches the id (see {@link compensate}).
   * Best effort, on a failure path: left unlogged, the late landing waits for a periodic index check.
   */
  private async logInDoubt(active: readonly PreparedWrite[]): Promise<void> {
    const expiresAt = this.ctx.clock.now() + this.ctx.delivery.intentTtlMs;
    await this.ctx.relational
      .transaction(async (tx) => {
        for (const { plan } of active)
          await tx.putIntent!({
            token: randomUUID(),
            recordId: plan.id,
            version: plan.next.version,
            expiresAt,
          });
      })
      .catch(() => {});
  }
}
