import type { OutboxAck, OutboxLease } from '../contracts/outbox.js';
import { hasIntentLog, type RelationalStore } from '../contracts/relational-store.js';
import type { StrategyContext } from '../contracts/write-strategy.js';
import { asDualwriteError, type IndexBindingError } from '../errors.js';
import { ArrivalRate } from '../util/arrival-rate.js';
import { backoffDelay } from '../util/backoff.js';
import { chunksBySize } from '../util/chunks-by-size.js';
import { EventLoopYield } from '../util/event-loop-yield.js';
import { WakeSignal } from '../util/wake-signal.js';
import { rollBackIntent } from '../write/roll-back-intent.js';
import { applyToVector } from './apply-to-vector.js';
import { ClaimOwners } from './claim-owners.js';
import { BACKLOG_CLAIM_BYTES, ClaimSize } from './claim-size.js';
import {
  type DeliveryItem,
  planDelivery,
  SourcePlanningFailure,
  type UndeliverableItem,
} from './delivery-plan.js';
import { classifyFailure, errorMessage, type FailureClass, retryAfterOf } from './failure-classification.js';
import { rebaseFencedDeliveries } from './fenced-deliveries.js';

/** How the drainer groups deliveries. */
export interface DrainerOptions {
  /** `single`: one vector call per change. `batch`: coalesce due entries into bulk calls. */
  mode: 'single' | 'batch';
  /** Worker loops running at once (capped by the vector store's `maxConcurrentWrites`). */
  concurrency: number;
  /** Entries claimed per loop iteration (1 in `single` mode; the batch size in `batch` mode). */
  claimSize: number;
  /**
   * Most entries one claim grows to while the outbox is behind (see {@link ClaimSize}: a full claim doubles
   * the next). Default `claimSize`: no growth.
   */
  backlogClaimSize?: number;
  /** `batch` mode: longest wait for a batch to fill before sending what is there, ms. */
  maxDelayMs: number;
}

/** Shortest time batch mode waits for a next arrival, ms (timer resolution). */
const MIN_PATIENCE_MS = 2;

/** First idle poll when the store's pushed wake-ups are reported missing. */
const MISSING_WAKE_UPS_POLL_MS = 200;

/** How often a long idle wait on pushed wake-ups checks that they still arrive. */
const WAKE_UP_HEALTH_CHECK_MS = 1_000;

/** Longest stretch of drain steps, ms, before the drain lets the event loop turn (see `turns`). */
const DRAIN_TURN_MS = 2;

/** `baseMs`, doubling with each empty claim in a row after the first, up to `capMs` (never below `baseMs`). */
function backedOff(baseMs: number, capMs: number, idleClaims: number): number {
  if (idleClaims <= 1) return baseMs;
  return Math.max(baseMs, Math.min(baseMs * 2 ** (idleClaims - 1), capMs));
}

/** `items` split in two, the first half the larger by one when the count is odd (isolating a failing entry). */
function halves<T>(items: readonly T[]): [T[], T[]] {
  const mid = Math.ceil(items.length / 2);
  return [items.slice(0, mid), items.slice(mid)];
}

/** About how many bytes a delivery's record holds: its text as UTF-16 code units, its embedding as float32. */
function recordBytes(item: DeliveryItem): number {
  return item.op === 'upsert' ? 2 * item.record.text.length + 4 * item.record.embedding.length + 64 : 64;
}

/** How long an own write's announcement waits for its notification to come back (see `takeEcho`), ms. */
const ECHO_WINDOW_MS = 1_000;
/** Most announcements waiting for their notification. */
const ECHOES_KEPT = 10_000;

/** False when the store says its pushed wake-ups do not reach this process now (see `WakeUpHealth`). */
function wakeUpsArrive(relational: RelationalStore): boolean {
  const health = relational.listenerHealth?.();
  return health === undefined || (health.listening && health.notificationsDelivered !== false);
}

/**
 * Drains the transactional outbox into the vector store: claims due entries under a lease, applies each
 * record's current state, acknowledges, and handles failures (retry with backoff and jitter, dead letter
 * after `maxAttempts`, split a failing batch to isolate a poison entry, pause without charging attempts
 * while the backend is down). Delivery is at-least-once; its effect is idempotent because the current
 * state is applied by id at its version.
 */
export class OutboxDrainer {
  private readonly work = new WakeSignal();
  /** Wakes a loop gathering a batch: the batch filled, a flush began, or the drainer stops. */
  private readonly batchFull = new WakeSignal();
  private readonly progress = new WakeSignal();
  /**
   * Over a store that answers without I/O (SQLite) an ack, the next claim, its read and the next call's
   * preparation run as one stretch of the event loop: the writers of the same process waited 5–17 ms behind
   * it. Past {@link DRAIN_TURN_MS} the drain lets the loop turn between those steps.
   */
  private readonly turns = new EventLoopYield(DRAIN_TURN_MS);
  private readonly stopController = new AbortController();
  private loops: Promise<void>[] = [];
  private stopping = false;
  private userPaused = false;
  private downSince: number | null = null;
  /** What is down while {@link downSince} is set: the probe asks it (the vector store, or the embedder). */
  private down: 'vector' | 'embedder' = 'vector';
  private probeDelayMs: number;
  private probing: Promise<void> | null = null;
  private hint = 0;
  /**
   * When the oldest change the loops have not claimed yet was announced (`null`: none): batch mode's wait for
   * company counts from it, so a change that waited behind a call in flight does not wait `maxDelayMs` more.
   */
  private pendingSince: number | null = null;
  /**
   * Wake-ups that found fewer loops asleep than they asked for (the rest were claiming or delivering): a loop
   * whose claim came back empty or short claims again if one came meanwhile. A wake-up a sleeping loop took is
   * that loop's to claim; the busy loop claiming it too only came back empty (on PostgreSQL, one round trip per
   * write while keeping up).
   */
  private unheardWakeUps = 0;
  /** When this facade announced its own writes whose notifications have not come back yet (see takeEcho). */
  private readonly echoes: number[] = [];
  /** Arrival rate of new entries (batch mode's reason to wait). */
  private readonly arrivals: ArrivalRate;
  private flushes = 0;
  private inFlightCount = 0;
  private lastRecovery = Number.NEGATIVE_INFINITY;
  /** Consecutive loop failures (relational store errors), for backoff. */
  private loopErrors = 0;
  /** Empty claims in a row since the last delivery or wake-up (drives the idle poll's back-off). */
  private idleClaims = 0;
  /** Claims under an owner per claim, giving back what a failed claim may hold. */
  private readonly claims: ClaimOwners;
  /** Claims running now (with the release of what a claim took after a pause or stop), by when they began. */
  private readonly claimsInFlight = new Map<Promise<unknown>, number>();

  constructor(
    private readonly ctx: StrategyContext,
    private readonly options: DrainerOptions,
  ) {
    this.probeDelayMs = ctx.delivery.outageProbeMs;
    this.claims = new ClaimOwners(ctx.delivery.owner, ctx.relational, ctx.delivery.leaseMs);
    this.arrivals = new ArrivalRate(Math.max(2 * options.maxDelayMs, MIN_PATIENCE_MS));
  }

  private unsubscribe: (() => Promise<void>) | null = null;

  /** Delivery loops: the strategy's concurrency, capped by what the vector store tolerates. */
  get concurrency(): number {
    return Math.max(
      1,
      Math.min(this.options.concurrency, this.ctx.vector.maxConcurrentWrites ?? Number.POSITIVE_INFINITY),
    );
  }

  /** Starts the worker loops (and subscribes to outbox notifications where the store has them). */
  async start(): Promise<void> {
    if (this.ctx.relational.subscribeOutbox)
      this.unsubscribe = await this.ctx.relational.subscribeOutbox((wakeUp) => {
        if (!(wakeUp?.ownWrite && this.takeEcho())) this.wake(1, false);
      });
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop());
  }

  /**
   * Tells the workers that `count` new entries were enqueued: by a write of this process (`ownWrite`, the
   * default), or as a notification says.
   */
  wake(count = 1, ownWrite = true): void {
    const now = this.ctx.clock.now();
    if (ownWrite && count > 0 && this.unsubscribe !== null) {
      // Its notification will come back as this store's own: nothing new by then (see takeEcho).
      if (this.echoes.length >= ECHOES_KEPT) this.echoes.shift();
      this.echoes.push(now);
    }
    this.arrivals.note(now, count);
    this.nudge(count);
  }

  /**
   * Whether a notification of this store's own write is the echo of a write this facade announced already
   * (one notification per write that enqueued), so that it wakes no loop to claim it a second time. An
   * announcement older than {@link ECHO_WINDOW_MS} is forgotten: its echo got lost (a reconnect) or never comes
   * (a write whose transaction sent none), and a notification of another facade over the same store must not
   * wait for the poll on its account for longer.
   */
  private takeEcho(): boolean {
    const now = this.ctx.clock.now();
    while (this.echoes.length > 0 && now - this.echoes[0]! > ECHO_WINDOW_MS) this.echoes.shift();
    return this.echoes.shift() !== undefined;
  }

  /** Tells the workers that `count` entries are due again (not new arrivals: the rate ignores them). */
  private nudge(count: number): void {
    this.hint += count;
    this.pendingSince ??= this.ctx.clock.now();
    this.idleClaims = 0;
    if (this.userPaused) return; // resume() wakes the loops
    const wanted = Math.max(1, count); // a loop per new entry at most: the others would only claim nothing
    if (this.work.notify(wanted) < wanted) this.unheardWakeUps++;
    if (this.hint >= this.options.claimSize) this.batchFull.notify();
  }

  /**
   * Sleeps until woken, or before claiming again: `pollIntervalMs`, doubling with each empty claim in a row up
   * to `maxIdlePollMs` — unless the store pushes wake-ups (`subscribeOutbox`), whose poll is only a backstop at
   * the configured interval. When the store reports that its wake-ups do not arrive (not listening, or its own
   * test notification missing: a pooler in transaction mode), the backstop is all there is, so it starts short
   * — `min(pollIntervalMs, 200)` — and doubles up to `pollIntervalMs`. A backstop wait on wake-ups the store
   * can report on looks at their health every {@link WAKE_UP_HEALTH_CHECK_MS}: when they go missing, the loop
   * claims at once and polls short from then on. A claim that finds work resets the doubling (and the loop
   * claims again at once).
   */
  private async idleWait(): Promise<void> {
    const { clock, relational, delivery } = this.ctx;
    const { pollIntervalMs, maxIdlePollMs } = delivery;
    if (this.unsubscribe === null)
      return this.work.wait(clock, backedOff(pollIntervalMs, maxIdlePollMs, this.idleClaims));
    if (!wakeUpsArrive(relational)) {
      const shortMs = Math.min(pollIntervalMs, MISSING_WAKE_UPS_POLL_MS);
      return this.work.wait(clock, backedOff(shortMs, pollIntervalMs, this.idleClaims));
    }
    if (relational.listenerHealth === undefined) return this.work.wait(clock, pollIntervalMs);
    const deadline = clock.now() + pollIntervalMs;
    const notifications = this.work.notifications;
    for (let left = pollIntervalMs; left > 0; left = deadline - clock.now()) {
      await this.work.wait(clock, Math.min(left, WAKE_UP_HEALTH_CHECK_MS));
      if (this.work.notifications !== notifications) return;
      if (!wakeUpsArrive(relational)) {
        this.idleClaims = 0; // start the short poll from its first interval
        return;
      }
    }
  }

  /** While active, batch mode sends partial batches at once. */
  setFlushing(active: boolean): void {
    this.flushes += active ? 1 : -1;
    this.work.notify();
    this.batchFull.notify();
  }

  pause(): void {
    this.userPaused = true;
  }

  resume(): void {
    this.userPaused = false;
    this.work.notify();
    this.batchFull.notify();
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  get paused(): boolean {
    return this.userPaused;
  }

  get backendDown(): boolean {
    return this.downSince !== null;
  }

  /** What is down while {@link backendDown}, else `null`. */
  get downBackend(): 'vector' | 'embedder' | null {
    return this.downSince === null ? null : this.down;
  }

  /** Resolves at the next delivery, or after `ms`. */
  waitForProgress(ms: number): Promise<void> {
    return this.progress.wait(this.ctx.clock, ms);
  }

  /**
   * Stops the loops. Deliveries in flight finish; a loop still busy after `timeoutMs` is abandoned (its
   * leases expire and another worker re-delivers).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.stopController.abort();
    this.work.notify();
    this.batchFull.notify();
    const timer = new AbortController();
    await Promise.race([Promise.all(this.loops), this.ctx.clock.sleep(timeoutMs, timer.signal)]);
    timer.abort();
    await this.claimsSettled();
    await this.unsubscribe?.().catch(() => {});
    this.unsubscribe = null;
  }

  /**
   * Waits for the claims still running — one queued behind an application's open transaction (SQLite's
   * single writer, a row lock) — and the release of what they took, each until its lease would have expired
   * (`leaseMs` after the claim began: past that nothing it took stays held). The store must stay open until
   * then: closed under the claim, it refuses the release and the entries stay leased to a process that is gone.
   */
  private async claimsSettled(): Promise<void> {
    const { clock, delivery } = this.ctx;
    while (this.claimsInFlight.size > 0) {
      const [claim, began] = this.claimsInFlight.entries().next().value!;
      const leftMs = began + delivery.leaseMs - clock.now();
      if (leftMs > 0) {
        const timer = new AbortController();
        await Promise.race([claim, clock.sleep(leftMs, timer.signal)]);
        timer.abort();
      }
      this.claimsInFlight.delete(claim);
    }
  }

  /**
   * Claims `limit` due entries; `null` when the drainer was paused or stopped while the claim ran (what it
   * took is given back uncharged). Tracked in {@link claimsInFlight} until it settles. The ids of entries taken
   * over (`OutboxLease.takenOver`: an expired lease, or one given back in doubt) go to `writesInDoubt`: the
   * earlier claimer's vector write may still land after this claim's delivery.
   */
  private claimOrGiveBack(limit: number): Promise<OutboxLease[] | null> {
    const { clock, delivery, relational } = this.ctx;
    const began = clock.now();
    const claim = (async () => {
      const leases = await this.claims.claim({ limit, leaseMs: delivery.leaseMs, now: began });
      const takenOver = leases.filter((lease) => lease.takenOver).map((lease) => lease.recordId);
      if (takenOver.length > 0) {
        this.ctx.metrics.leasesTakenOver += takenOver.length;
        this.ctx.writesInDoubt?.(takenOver);
      }
      if (!this.userPaused && !this.stopping) return leases;
      if (leases.length > 0) await relational.releaseOutbox(leases, clock.now());
      return null;
    })();
    const settled = claim.then(
      () => {},
      () => {},
    );
    this.claimsInFlight.set(settled, began);
    void settled.then(() => this.claimsInFlight.delete(settled));
    return claim;
  }

  /**
   * Rolls back sync-2pc intents abandoned by a crashed or stuck writer ({@link rollBackIntent}: the record's
   * current state enqueued, rewritten above the intent's version when the write never committed). Their ids go
   * to `writesInDoubt`: the writer's vector write may still be in flight.
   */
  async recoverIntents(): Promise<number> {
    const { relational, clock } = this.ctx;
    this.lastRecovery = clock.now();
    if (!hasIntentLog(relational)) return 0;
    let resolved = 0;
    for (;;) {
      const expired = await relational.listExpiredIntents(clock.now(), 100);
      for (const intent of expired)
        if (await rollBackIntent(relational, intent, clock.now())) {
          resolved++;
          this.ctx.writesInDoubt?.([intent.recordId]);
        }
      if (expired.length < 100) break;
    }
    if (resolved > 0) this.nudge(resolved);
    return resolved;
  }

  private async loop(): Promise<void> {
    const { clock, delivery } = this.ctx;
    const { claimSize, backlogClaimSize } = this.options;
    const claim = new ClaimSize(claimSize, backlogClaimSize ?? claimSize, delivery.leaseMs / 4);
    while (!this.stopping) {
      try {
        if (this.userPaused) {
          await this.work.wait(clock, delivery.pollIntervalMs);
          continue;
        }
        if (this.downSince !== null) {
          await this.probe();
          continue;
        }
        if (clock.now() - this.lastRecovery >= delivery.recoveryIntervalMs) await this.recoverIntents();
        if (
          this.options.mode === 'batch' &&
          this.hint > 0 &&
          this.hint < this.options.claimSize &&
          this.flushes === 0
        )
          await this.gather();
        if (this.stopping) break;
        const unheardBefore = this.unheardWakeUps;
        const claimStartedAt = clock.now();
        const claimed = claim.current;
        const leases = await this.claimOrGiveBack(claimed);
        if (leases === null) continue; // paused or stopped while the claim ran: given back uncharged
        if (leases.length === 0) {
          this.loopErrors = 0;
          // A write that arrived while this claim ran woke nobody (no loop was waiting): claim again.
          if (this.unheardWakeUps !== unheardBefore) continue;
          this.hint = 0;
          this.pendingSince = null;
          this.idleClaims++;
          claim.reset();
          await this.idleWait();
          continue;
        }
        this.idleClaims = 0;
        this.hint = Math.max(0, this.hint - leases.length);
        // What is left of a full claim may have been announced before it: its wait keeps counting from the oldest
        // announcement. A short claim took everything committed before it began, so what is left was announced
        // while it ran: its wait counts from the claim's start. (Counting on from the first announcement of a
        // steady stream, whose hint never drops to zero, left every later gather past its deadline: batch then
        // sent 2–4 records a call, 440–690 claims for 2,000 puts instead of 120–140.)
        if (this.hint === 0) this.pendingSince = null;
        else if (leases.length < claimed)
          this.pendingSince = Math.max(this.pendingSince ?? claimStartedAt, claimStartedAt);
        // A full claim suggests more is due (another process's bulk write wakes us once): wake one more loop.
        if (leases.length >= claimSize) this.work.notify(1);
        this.inFlightCount += leases.length;
        const started = clock.now();
        try {
          const bytes = await this.deliver(leases);
          // Only a delivery that ran to its end ends a run of errors: one failing after each successful claim
          // (the store failing under planning) keeps backing off longer.
          this.loopErrors = 0;
          if (bytes === undefined) claim.reset();
          else claim.settle(leases.length, bytes, clock.now() - started);
        } finally {
          this.inFlightCount -= leases.length;
          this.progress.notify();
        }
        await this.turns.ifDue();
        // A claim that came back short took everything due when it ran. Where the store has checked that every
        // process's writes reach this one as wake-ups, with none unheard since, claiming again would only come
        // back empty (a round trip per delivery while keeping up): wait for the next wake-up, or the poll that
        // finds retries coming due. (What was announced meanwhile woke a sleeping loop, which claims it.)
        // Otherwise another process's writes may announce nothing (PostgreSQL with `notify: false`, SQLite,
        // MySQL), so the loop claims again at once while there is work; so does a flush, until a claim is empty.
        const caughtUp =
          leases.length < claimed &&
          this.unheardWakeUps === unheardBefore &&
          this.unsubscribe !== null &&
          this.ctx.relational.listenerHealth?.().notificationsDelivered === true;
        if (caughtUp && this.flushes === 0 && !this.stopping && !this.userPaused) {
          claim.reset();
          await this.idleWait();
        }
      } catch (error) {
        // e.g. the relational store is locked or full: back off instead of hammering it every poll
        this.loopErrors++;
        this.ctx.events.emit('drain-error', { error: errorMessage(error) });
        const delay = Math.min(delivery.pollIntervalMs * 2 ** Math.min(this.loopErrors - 1, 10), 5_000);
        await this.work.wait(clock, Math.max(delay, delivery.pollIntervalMs));
      }
    }
  }

  /**
   * Batch mode: waits for the batch to fill — at most until `maxDelayMs` after the oldest unclaimed change was
   * announced (so a change that arrived while a call was in flight waits only what is left of its
   * `maxDelayMs`, not a full one more after that call), and only while there is reason to. It
   * does not wait when fewer than two more changes are expected within `maxDelayMs` (mean gap between
   * arrivals over half of it: at a trickle, waiting would delay every write and save almost no calls), and
   * stops waiting once nothing arrived for twice the mean gap (the burst is over). Until two wake-ups have
   * given it a rate it does not wait: a first change after a quiet spell goes out at once, and those that
   * follow it gather while that call is in flight. A flush or stop ends the wait.
   */
  private async gather(): Promise<void> {
    const { clock } = this.ctx;
    const { maxDelayMs, claimSize } = this.options;
    const deadline = (this.pendingSince ?? clock.now()) + maxDelayMs;
    while (!this.stopping && this.flushes === 0 && this.hint < claimSize) {
      const now = clock.now();
      const left = deadline - now;
      if (left <= 0) return;
      const gap = this.arrivals.meanGapMs;
      if (gap === null) return;
      const patience = Math.max(2 * gap, MIN_PATIENCE_MS);
      const quiet = this.arrivals.quietFor(now);
      if (patience > maxDelayMs || quiet >= patience) return;
      await this.batchFull.wait(clock, Math.min(left, patience - quiet));
    }
  }

  /**
   * Plans, sends and settles one claim's entries. Planning (reading the records, embedding those without an
   * embedding) runs under the same lease keep-alive as the vector call: a slow embedder filling a large claim
   * must not outlive its leases. When planning fails with a permanent error (an embedder refusing one text) — or
   * with a transient one again after a retry (an embedder answering one text with a 400 or 5xx it does not
   * explain) — the claim is planned again in halves until the culprit stands alone, so one bad record never
   * dead-letters the others.
   * @returns about how many bytes of record data the planned deliveries held; `undefined` when planning failed.
   */
  private async deliver(leases: OutboxLease[]): Promise<number | undefined> {
    let planned: Awaited<ReturnType<typeof planDelivery>>;
    const keepAlive = this.keepLeasesAlive(leases);
    try {
      planned = await planDelivery(this.ctx, leases).finally(() => keepAlive.stop());
    } catch (thrown) {
      if (await this.releasedForMisbinding(leases, thrown)) return undefined;
      const error = await this.unlessSourceFault(leases, thrown);
      const failure = await this.classifyPlanning(error);
      if (failure === 'embedder-down') {
        await this.handleFailure(leases, error, 'outage', 'embedder');
        return undefined;
      }
      // A permanent failure splits at once; a transient one from the second attempt on (the first retry of the
      // whole claim rides out a blip without multiplying calls to an embedder that is only briefly unwell).
      const isolate =
        failure === 'permanent' || (failure === 'transient' && leases.some((lease) => lease.attempts >= 1));
      if (isolate && leases.length > 1) {
        const [first, second] = halves(leases);
        try {
          await this.deliver(first);
        } catch (sourceFault) {
          // The store failed under the first half (see unlessSourceFault): the second goes back uncharged too.
          await this.whileLeased(second, () =>
            this.ctx.relational.releaseOutbox(second, this.ctx.clock.now()),
          );
          throw sourceFault;
        }
        await this.deliver(second);
      } else await this.handleFailure(leases, error, failure);
      return undefined;
    }
    await this.turns.ifDue();
    await this.settleUndeliverable(planned.undeliverable);
    if (this.options.mode === 'single') {
      for (const item of planned.items) {
        const [held] = await this.stillHeld([item]);
        if (held) await this.sendAndSettle([held]);
      }
    } else if (planned.items.length > 0) {
      const held = await this.stillHeld(planned.items);
      // A claim grown while records were small may hold large ones: no call carries much more than the cap.
      for (const chunk of chunksBySize(held, held.length, BACKLOG_CLAIM_BYTES, recordBytes))
        await this.sendAndSettle(chunk);
    }
    return planned.items.reduce((sum, item) => sum + recordBytes(item), 0);
  }

  /**
   * A fault of the source of truth while the claim's records or the embedding cache were read
   * ({@link SourcePlanningFailure}: the store unreachable, a table lock held past its lock timeout) is the store's,
   * not the records': their leases go back uncharged and the error is rethrown, so the loop backs off and claims
   * them again. Charged, a lock an application held for a minute dead-lettered healthy, acknowledged writes
   * (helper-67: MariaDB, `ER_LOCK_WAIT_TIMEOUT`, 4 of 10 records dead-lettered at `maxAttempts: 3`).
   * @returns `thrown` when it is another error, to classify as the records'.
   */
  private async unlessSourceFault(leases: OutboxLease[], thrown: unknown): Promise<unknown> {
    if (!(thrown instanceof SourcePlanningFailure)) return thrown;
    const { relational, clock } = this.ctx;
    await this.whileLeased(leases, () => relational.releaseOutbox(leases, clock.now()));
    throw thrown.error;
  }

  /**
   * Records planning left undeliverable: dead-lettered (`permanent`), charged and retried (`transient`: storing
   * the embedding failed for a reason of the record's own, e.g. a trigger refusing its row), or given back
   * uncharged, due again after a poll interval (`source`: the store's fault, such as the record's row held by
   * another session past the lock timeout — the claim's other records are delivered meanwhile; a row lock held
   * on one record made every claim holding it fail, and charged, dead-lettered it with its neighbours).
   */
  private async settleUndeliverable(undeliverable: readonly UndeliverableItem[]): Promise<void> {
    const { relational, clock, delivery, events } = this.ctx;
    const deferred = undeliverable.filter((u) => u.failure === 'source').map((u) => u.lease);
    if (deferred.length > 0) {
      events.emit('drain-error', {
        error: `${deferred.length} record(s) given back uncharged: ${errorMessage(undeliverable.find((u) => u.failure === 'source')!.error)}`,
      });
      await this.whileLeased(deferred, () =>
        relational.releaseOutbox(deferred, clock.now() + delivery.pollIntervalMs),
      );
    }
    for (const { lease, error, failure } of undeliverable)
      if (failure !== 'source') await this.handleFailure([lease], error, failure);
  }

  /**
   * A delivery must not write with a lease it no longer holds: another worker may have delivered a newer
   * state meanwhile. Leases with less than half their time left (a slow embedder, a long batch, a
   * starved event loop) are renewed first; those that cannot be renewed were lost and are dropped.
   */
  private async stillHeld(items: DeliveryItem[]): Promise<DeliveryItem[]> {
    const { relational, clock, delivery } = this.ctx;
    const now = clock.now();
    if (items.every((i) => i.lease.leaseUntil - now > delivery.leaseMs / 2)) return items;
    const leaseUntil = now + delivery.leaseMs;
    const held = new Set(
      await relational.renewOutbox(
        items.map((i) => i.lease),
        leaseUntil,
      ),
    );
    const kept = items.filter((i) => held.has(i.lease.recordId));
    for (const item of kept) item.lease.leaseUntil = leaseUntil;
    if (kept.length < items.length) this.ctx.metrics.leasesLost += items.length - kept.length;
    return kept;
  }

  /** Sends items in as few vector calls as possible; on failure splits to isolate the culprit. */
  private async sendAndSettle(items: DeliveryItem[]): Promise<void> {
    let fenced: string[];
    const leases = items.map((i) => i.lease);
    const keepAlive = this.keepLeasesAlive(leases);
    try {
      fenced = await this.send(items).finally(() => keepAlive.stop());
    } catch (error) {
      if (await this.releasedForMisbinding(leases, error)) return;
      const failure = await this.classify(error, true);
      if (items.length > 1 && (failure === 'permanent' || failure === 'transient')) {
        for (const half of halves(items)) await this.sendAndSettle(half);
        return;
      }
      // A write that may still land (anything but a refusal, on a store without a version fence) is given back
      // marked in doubt, so whichever claim takes it next watches the ids — this process may be gone by then
      // (a break-it round: a write failing during a shutdown was given back unmarked, and its late landing stayed
      // until a periodic check, 27 s to over 150 s).
      const inDoubt = failure !== 'permanent' && this.ctx.vector.versionFence !== true;
      await this.handleFailure(leases, error, failure, 'vector', inDoubt);
      return;
    }
    if (fenced.length > 0) items = await this.settleFenced(items, new Set(fenced));
    await this.turns.ifDue();
    if (items.length > 0 && (await this.stillBound(items.map((i) => i.lease)))) await this.acknowledge(items);
  }

  /**
   * `false`, with `leases` given back uncharged, when the source was rebound to another index meanwhile
   * (`assertBound`): what they wrote went into an index the source no longer names, so it is not acknowledged.
   * A check that fails for the source's own reason (its one read of the binding met a dropped connection, a
   * restart, a lock timeout) runs again as a settlement does ({@link whileLeased}), so the delivery is
   * acknowledged once the source answers. Before, the error went up to the loop and the delivered entries stayed
   * leased until their lease ran out (a flush after `pg_terminate_backend` under a put loop waited 6.5–9 s).
   */
  private async stillBound(leases: OutboxLease[]): Promise<boolean> {
    const { assertBound } = this.ctx;
    if (assertBound === undefined) return true;
    try {
      await this.whileLeased(leases, assertBound);
      return true;
    } catch (error) {
      if (await this.releasedForMisbinding(leases, error)) return false;
      throw error;
    }
  }

  /**
   * While a vector call is in flight, renews its leases every third of `leaseMs`, so a call slower than the
   * lease (a vector store under load, a long bulk write) is not claimed and delivered a second time by
   * another worker meanwhile. `stop()` ends the renewals and waits for one in flight (nothing renews a
   * lease after it was acknowledged). A lease that could not be renewed was lost; the call cannot be taken
   * back, and the fence and the idempotent upsert keep the index right.
   */
  private keepLeasesAlive(leases: readonly OutboxLease[]): { stop(): Promise<void> } {
    const { relational, clock, delivery, metrics } = this.ctx;
    const stopped = new AbortController();
    let held = [...leases];
    const renewals = (async () => {
      while (held.length > 0) {
        await clock.sleep(delivery.leaseMs / 3, stopped.signal);
        if (stopped.signal.aborted) return;
        const leaseUntil = clock.now() + delivery.leaseMs;
        try {
          const renewed = new Set(await relational.renewOutbox(held, leaseUntil));
          for (const lease of held) if (renewed.has(lease.recordId)) lease.leaseUntil = leaseUntil;
          metrics.leasesLost += held.length - renewed.size;
          held = held.filter((lease) => renewed.has(lease.recordId));
        } catch {
          // The store is unreachable right now: the leases may still be valid; try again next round.
        }
      }
    })();
    return {
      stop: () => {
        stopped.abort();
        return renewals;
      },
    };
  }

  /**
   * Stale deliveries go to the index through its version fence (where it has one): an upsert lands only over an
   * older row, and the delete of a tombstone removes a row only at or below the tombstone's version (a delete
   * whose lease expired while another worker delivered a newer put must not remove it).
   */
  private send(items: DeliveryItem[]): Promise<string[]> {
    const deleteVersions = new Map(
      items.flatMap((i) =>
        i.op === 'delete' && i.tombstone ? [[i.lease.recordId, i.version] as const] : [],
      ),
    );
    return applyToVector(
      this.ctx,
      items.flatMap((i) => (i.op === 'upsert' ? [i.record] : [])),
      items.flatMap((i) => (i.op === 'delete' ? [i.lease.recordId] : [])),
      { ifNewer: true, deleteVersions },
    );
  }

  /**
   * Items the version fence refused are never acknowledged (their state is not in the index): records the
   * index is ahead of are rewritten at a fresh version, then every refused lease is released uncharged
   * so the entry's current version is delivered next. Returns the items that did reach the index.
   */
  private async settleFenced(items: DeliveryItem[], fenced: ReadonlySet<string>): Promise<DeliveryItem[]> {
    const refused = items.filter((i) => fenced.has(i.lease.recordId));
    const { relational, clock, delivery, metrics } = this.ctx;
    metrics.fenced += refused.length;
    const blocked = new Set((await rebaseFencedDeliveries(this.ctx, refused)).blocked);
    // Rewritten or superseded entries are due at once; one waiting for a sync-2pc intent to resolve comes
    // back after a poll interval instead of spinning against the fence.
    const now = clock.now();
    const due = refused.filter((i) => !blocked.has(i.lease.recordId)).map((i) => i.lease);
    await this.whileLeased(due, () => relational.releaseOutbox(due, now));
    const waiting = refused.filter((i) => blocked.has(i.lease.recordId)).map((i) => i.lease);
    await this.whileLeased(waiting, () => relational.releaseOutbox(waiting, now + delivery.pollIntervalMs));
    this.nudge(refused.length);
    return items.filter((i) => !refused.includes(i));
  }

  private async acknowledge(items: DeliveryItem[]): Promise<void> {
    const { relational, clock, metrics, events } = this.ctx;
    const acks: OutboxAck[] = items.map((i) => ({
      recordId: i.lease.recordId,
      leaseToken: i.lease.leaseToken,
      appliedVersion: i.version,
    }));
    const outcomes = await this.whileLeased(
      items.map((i) => i.lease),
      () => relational.ackOutbox(acks, clock.now()),
    );
    const acked = items.filter((_, j) => outcomes[j] === 'acked');
    metrics.synced += acked.length;
    metrics.acksLost += outcomes.filter((o) => o === 'lease-lost').length;
    // Only what this ack settled: a superseded delivery's entry stays queued for its newer version, and a lost
    // lease's entry is another process's to deliver and report.
    if (acked.length > 0)
      events.emit('synced', {
        items: acked.map((i) => ({ id: i.lease.recordId, version: i.version, deleted: i.op === 'delete' })),
      });
  }

  /**
   * Runs `settle` — what ends a delivery's leases: its ack, a release, a recorded failure — and, when the
   * relational store fails with anything but a permanent error (a restart, a killed connection, a lock
   * timeout), runs it again after 50, 100, 200, … ms (at most 2 s apart) for as long as every one of `leases`
   * lasts and the drainer is not stopping. Giving up at once would leave the entries leased until the lease
   * ran out (`leaseMs`, 10 s by default), and a delivered one would be sent again. Each settlement is safe to
   * repeat: an ack whose first attempt did commit finds its token gone (`'lease-lost'`, a repair, one
   * redundant delivery); releases and failures of tokens no longer held change nothing.
   * @throws the last error once a lease ran out, the drainer stops, or the error is permanent.
   */
  private async whileLeased<T>(leases: readonly OutboxLease[], settle: () => Promise<T>): Promise<T> {
    const { clock } = this.ctx;
    for (let attempt = 0; ; attempt++) {
      try {
        return await settle();
      } catch (error) {
        const delay = Math.min(50 * 2 ** attempt, 2_000);
        const leaseEnds = leases.length === 0 ? 0 : Math.min(...leases.map((l) => l.leaseUntil));
        if (classifyFailure(error) === 'permanent' || this.stopping || clock.now() + delay >= leaseEnds)
          throw error;
        this.ctx.events.emit('drain-error', { error: `settlement retried: ${errorMessage(error)}` });
        await clock.sleep(delay);
      }
    }
  }

  /**
   * An `IndexBindingError` (the source rebound to another embedder by another process; a vector store that found
   * its collection replaced by one of another distance or dimension) is about the index, not these records:
   * delivery stops in this process (`StrategyContext.indexMisbound`) and the leases go back uncharged, so no
   * healthy record is dead-lettered for it.
   * @returns whether `error` was one (and the leases were released).
   */
  private async releasedForMisbinding(leases: OutboxLease[], error: unknown): Promise<boolean> {
    if (asDualwriteError(error)?.code !== 'INDEX_BINDING') return false;
    this.ctx.indexMisbound?.(error as IndexBindingError);
    await this.whileLeased(leases, () => this.ctx.relational.releaseOutbox(leases, this.ctx.clock.now()));
    return true;
  }

  /**
   * Decides outage vs. other failures; an unknown error while the backend does not answer is an outage. A
   * closed vector store (`ClosedError`, e.g. closed before the facade during shutdown) says nothing about the
   * records: an outage, so their leases go back uncharged instead of splitting the batch against it and
   * dead-lettering every entry.
   */
  private async classify(error: unknown, fromVectorStore: boolean): Promise<FailureClass> {
    if (fromVectorStore && asDualwriteError(error)?.code === 'CLOSED') return 'outage';
    const failure = classifyFailure(error);
    if (failure !== 'transient' || !fromVectorStore) return failure;
    try {
      await this.ctx.vector.ping();
      return failure;
    } catch {
      return 'outage';
    }
  }

  /**
   * Classifies a failure to plan a delivery (reading the records, embedding them). A transient or throttled
   * failure while an embedder is configured is checked against the embedder's health: when it cannot embed a
   * fixed short text either ({@link EmbeddingService.probe}), the embedder is down — `'embedder-down'`, an outage
   * released without charging attempts — not the records: a demo API whose embedder answered HTTP 500 for 25 s
   * had every write of that time dead-lettered (8 charged attempts), and nothing delivered them after it recovered.
   * When the probe embeds, the failure is the records' own (one text the embedder refuses, or too many at once):
   * `'transient'`, split to find the culprit and charged only to a record that fails alone. An outage (an
   * unreachable embedder's `BackendUnavailableError`, ECONNREFUSED) is checked the same way, so it is reported as
   * the embedder's and probed there: taken for the index's, the index answered every probe and delivery flapped
   * between down and up while `stats().downBackend` said `'vector'` (helper-66).
   */
  private async classifyPlanning(error: unknown): Promise<FailureClass | 'embedder-down'> {
    const failure = await this.classify(error, false);
    const embeddings = this.ctx.embeddings;
    const checked = failure === 'transient' || failure === 'throttled' || failure === 'outage';
    if (!checked || embeddings === undefined) return failure;
    try {
      await embeddings.probe();
    } catch {
      return 'embedder-down';
    }
    // The embedder answers: an outage is the source's (a record read failed), handled as before.
    if (failure === 'outage') return failure;
    // The embedder answers one text: a 429/503 for this claim's texts is about them (too many or too long at once,
    // one of them refused), so it is split like any transient failure instead of being retried whole — whole, an
    // embedder refusing batches over two texts dead-lettered 19 of 20 healthy records (helper-64).
    return 'transient';
  }

  private async handleFailure(
    leases: OutboxLease[],
    error: unknown,
    failure: FailureClass,
    down: 'vector' | 'embedder' = 'vector',
    inDoubt = false,
  ): Promise<void> {
    const { relational, clock, delivery, metrics, events } = this.ctx;
    const message = errorMessage(error);
    if (failure === 'outage') {
      await this.whileLeased(leases, () => relational.releaseOutbox(leases, clock.now(), { inDoubt }));
      if (this.downSince === null) {
        this.downSince = clock.now();
        this.down = down;
        this.probeDelayMs = delivery.outageProbeMs;
        events.emit('backend-down', { error: message });
      }
      return;
    }
    for (const lease of leases) {
      const attempts = lease.attempts + 1;
      const retryAt =
        clock.now() + backoffDelay(attempts, delivery.backoff, retryAfterOf(error), delivery.random);
      const outcome = await this.whileLeased([lease], () =>
        relational.failOutbox({
          recordId: lease.recordId,
          leaseToken: lease.leaseToken,
          error: message,
          permanent: failure === 'permanent',
          maxAttempts: delivery.maxAttempts,
          retryAt,
          now: clock.now(),
          inDoubt,
        }),
      );
      if (outcome === 'dead') {
        metrics.deadLettered++;
        events.emit('dead-lettered', { id: lease.recordId, attempts, error: message });
      } else if (outcome === 'retry') {
        metrics.retries++;
        events.emit('retried', { id: lease.recordId, attempts, retryAt, error: message });
      }
    }
  }

  /**
   * One health probe at a time; the others wait for its verdict. It asks what is down: the vector store
   * (`ping`), or the embedder (one short text embedded).
   */
  private probe(): Promise<void> {
    if (!this.probing) {
      this.probing = (async () => {
        const { clock, delivery, vector, events, embeddings } = this.ctx;
        await clock.sleep(this.probeDelayMs, this.stopController.signal);
        if (this.stopping) return;
        try {
          if (this.down === 'embedder' && embeddings !== undefined) await embeddings.probe();
          else await vector.ping();
          const since = this.downSince ?? clock.now();
          this.downSince = null;
          events.emit('backend-up', { downForMs: clock.now() - since });
          this.work.notify();
        } catch {
          this.probeDelayMs = Math.min(this.probeDelayMs * 2, delivery.maxOutageProbeMs);
        }
      })().finally(() => {
        this.probing = null;
      });
    }
    return this.probing;
  }
}
