import type { TwoPhaseIntent } from '../contracts/outbox.js';
import { countLiveRecords } from '../contracts/relational-operations.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorIndexIdentity, VectorStore } from '../contracts/vector-store.js';
import { asDualwriteError, IndexBindingError } from '../errors.js';
import type { DualwriteEvents } from '../facade/events.js';
import { classifyFailure, errorMessage } from '../outbox/failure-classification.js';
import { type ReconcileReport, reconcile } from '../reconcile/reconciler.js';
import type { SyncedVersion } from '../record/types.js';
import { isForeignVersion } from '../record/version-range.js';
import type { Clock } from '../util/clock.js';
import { DeadLetterWatch, deadLetterRows } from './dead-letter-watch.js';
import { clearFilledEmbeddings, pendingEmbedderChange } from './embedder-change.js';
import {
  type BindingOutcome,
  bindIndex,
  type CheckpointProbe,
  type ClaimIndex,
  INDEX_DRIFT_KEY,
  INDEX_REPAIRED_AT_KEY,
  type IndexBinding,
  type IndexDrift,
  readBinding,
  recordDrift,
} from './index-binding.js';
import { checkpointBehind, holdsCheckpoint, passCheckpoint, restampCheckpoint } from './index-checkpoint.js';
import { DEFAULT_SWEEP_PAGE, RollingSweep } from './rolling-sweep.js';
import { rowsAheadOfSource } from './rows-since-check.js';
import { openIntentIds, openIntents, settledRecords } from './settled-records.js';

/**
 * Background drift detection: a check every `intervalMs` (wall clock, never holding the process open).
 * Each check compares the index's identity with the binding and its row count with the records known to
 * be synced, and compares the next {@link DriftCheckOptions.sweepPage} records and index ids by content (a rolling
 * sweep); with `sampleRate > 0` it also runs a sampled reconcile. Whatever it finds starts a repair.
 */
export interface DriftCheckOptions {
  /** Time between checks, ms. Default 30,000. */
  intervalMs?: number;
  /** Share of pages a periodic sampled reconcile checks, [0, 1]; `0` skips it. Default 0 (off). */
  sampleRate?: number;
  /**
   * Records, and index ids, each check compares by content, the next ones at the next check (a rolling sweep that
   * covers the whole index within `records / sweepPage` checks: an index row another tool edited, removed or
   * added is found without a reconcile). Integer 0..10,000; `0` turns it off. Default 200.
   */
  sweepPage?: number;
}

/** Least time between two repairs a waiting flush starts for a drift still recorded, ms. */
const FLUSH_REPAIR_RETRY_MS = 1_000;

/**
 * How long a waiting flush leaves a drift another process recorded to that process's repair before repairing it
 * too (the process may have died or failed), ms of the recording process's clock.
 */
const FOREIGN_DRIFT_PATIENCE_MS = 10_000;

/**
 * How long a hold lasts before the held process records a drift for what it acknowledged since the binding moved
 * (see `holdWhileBehind`), ms: longer than a checkpoint lowered for a moment by racing stamps stays lowered.
 */
const HOLD_BEFORE_DRIFT_MS = 2_000;

/** When a process that moved the binding looks again at its index's checkpoint, ms after the move. */
const MOVE_FOLLOW_UPS_MS = [500, 2_000, 5_000];

/** Rows of an unstamped index checked for ones dualwrite did not write before it is claimed. */
const FOREIGN_ROWS_SAMPLE = 1_000;

/**
 * Pause before a claim of the index reads its owner back, ms (jittered ±50 %): longer than a claim takes to
 * land on a local LanceDB table or a Chroma collection (a metadata commit or update, 5–30 ms here).
 */
const CLAIM_SETTLE_MS = 100;

/** What the guard works with. */
export interface IndexGuardContext {
  relational: RelationalStore;
  vector: VectorStore;
  clock: Clock;
  events: DualwriteEvents;
  /** Embedder id recorded in the binding, or `null`. */
  embedderId: string | null;
  /** Wakes delivery after repairs were enqueued. */
  afterRepair: () => Promise<void>;
  /**
   * The index could only be checked after start (it was unreachable then) and turned out to be another
   * one than the data is bound to: delivery must stop (the facade pauses it).
   */
  onMisbound: (error: IndexBindingError) => void;
  /**
   * This process's index misses a checkpoint the source stamped on the bound index, reached at another place
   * (IndexBindingError on field `checkpoint`): it is a copy of it, or the bound index went back in time. Delivery
   * is held (the facade pauses it) until a check finds this index holding that checkpoint — the repair of a
   * rolled-back index by a process at the binding's place does that — then {@link onVerified} resumes it.
   */
  onHeld: (error: IndexBindingError) => void;
  /** The deferred check passed, or a hold ended: delivery, held until now, may run. */
  onVerified: () => void;
}

/**
 * Makes sure the index dualwrite feeds is the one the source of truth is bound to, holding what it
 * believes — trusting nothing it cannot verify:
 *
 * - **On open**: refuses a configuration that names another index or embedder ({@link bindIndex}); notices
 *   an index dropped and recreated underneath (another instance id) and an index holding versions the
 *   source never handed out (the database went back in time), and repairs both.
 * - **Periodically**: the same identity check, the index checkpoint (see `passCheckpoint`: a counter stamped on
 *   the index at every pass, so an older copy of the index is found however many writes landed on it since),
 *   count checks (the index holds fewer rows than the records
 *   that claim to be synced — e.g. emptied in place or a server restarted on a wiped data dir — or more than
 *   the records that can be in it — rows another tool wrote), a version check (the index's highest version is
 *   below one it acknowledged — an older copy restored), the rows the index took since the previous check
 *   against their records (`rowsAheadOfSource`: a source restored from a backup taken since, or another source
 *   writing) and, when enabled, a sampled reconcile.
 * - **Repair**: records the drift under {@link INDEX_DRIFT_KEY} (so every process reports it), emits
 *   `index-drift`, runs a full reconcile that enqueues every difference, then clears the drift and emits
 *   `index-repaired`. One repair at a time per process.
 */
export class IndexGuard {
  private timer: NodeJS.Timeout | null = null;
  private repairing: Promise<ReconcileReport | undefined> | null = null;
  private checking: Promise<void> | null = null;
  private stopped = false;
  /** Why a check found the binding is not this process's configuration: delivery stopped, no repairs from here. */
  private misbinding: IndexBindingError | undefined;
  /** A check found the binding is not this process's configuration ({@link misbinding} says why). */
  private get misbound(): boolean {
    return this.misbinding !== undefined;
  }
  /** The binding as {@link assertBound} last found it this process's (its index fields, as JSON). */
  private boundAs: string | undefined;
  /**
   * Where the next look ({@link acknowledgedWritesLost}) starts: the highest acknowledged version this process
   * found held by the index at its latest passing look, lowered below any version then still pending or held
   * by an intent, and to at most the highest version handed out before the look before it began; `null` before
   * the first. The next look covers every acknowledgement above it.
   */
  private verifiedUpTo: number | null = null;
  /**
   * The highest version handed out when the latest passing look began. A version drawn after it may have been
   * in flight during that look (uncommitted, or pending and then acknowledged after a higher one the look
   * found), so the look after the next starts no higher than this.
   */
  private handedOutBeforeLook: number | null = null;
  /** The highest version handed out when the previous check of the rows the index took since began. */
  private handedOutBeforeRowsCheck: number | undefined;
  /** Dead letters seen at the latest passing look, looked up at the next once acknowledged. */
  private readonly deadLetters = new DeadLetterWatch();
  /** Drift this process found but repairs nothing for (`repairs: false`), for {@link drift}; `null`: none. */
  private unrepaired: IndexDrift | null = null;
  /** Drift found by {@link open}, repaired once {@link start} runs (delivery is up by then). */
  private found: string | undefined;
  /** The index was unreachable at open: binding and version checks wait for the first periodic check. */
  private deferred = false;
  /** Why delivery is held: this index misses a checkpoint stamped on the bound one elsewhere (see `onHeld`). */
  private heldBy: IndexBindingError | undefined;
  /** Since when (clock ms), and whether this process acknowledged since the binding moved, not yet recorded. */
  private hold: { since: number; ackedSinceMove: boolean } | undefined;
  /** The binding names another place than this process reaches its index at (as its latest check found). */
  private reachedElsewhere = false;
  /** When {@link assertBound} last let an acknowledgement (or a sync-2pc commit) through, clock ms. */
  private passedAt = Number.NEGATIVE_INFINITY;
  /** Why the latest check or repair of this process failed, for the messages of a waiting flush. */
  private failure: string | undefined;
  /** `since` of the drift this process's latest repair recorded (to tell it from another process's). */
  private recordedSince: number | undefined;
  /** When {@link inQuestion} last ran a check to repair a recorded drift (clock ms). */
  private flushCheckedAt = Number.NEGATIVE_INFINITY;
  private readonly intervalMs: number;
  private readonly sampleRate: number;
  private readonly sweep: RollingSweep;

  constructor(
    private readonly ctx: IndexGuardContext,
    private readonly options: {
      binding: 'verify' | 'rebind';
      driftCheck: DriftCheckOptions | false;
      /** `false`: drift found is reported, never repaired from here (see {@link startRepair}). */
      repairs: boolean;
      /**
       * This process writes the index (it delivers, or writes it in the call: sync-2pc). With neither this nor
       * `repairs` it only inspects: the binding is checked, never written, and the index never stamped.
       */
      writesIndex: boolean;
    },
  ) {
    const check = options.driftCheck === false ? {} : options.driftCheck;
    this.intervalMs = check.intervalMs ?? 30_000;
    this.sampleRate = check.sampleRate ?? 0;
    this.sweep = new RollingSweep(check.sweepPage ?? DEFAULT_SWEEP_PAGE);
  }

  /**
   * Binds or verifies the index and checks for a regressed version sequence and for acknowledged versions the
   * index lost. Call before delivery starts; what it finds is repaired by {@link start}.
   * @throws {IndexBindingError} when the configuration names another index or embedder (`'verify'` mode).
   */
  async open(): Promise<void> {
    try {
      await this.verifyIndex(this.options.binding);
    } catch (error) {
      // A vector store that is down must not stop writers from starting (the outbox holds their writes):
      // the checks run once it answers, and a wrong index then stops delivery.
      if (error instanceof IndexBindingError || classifyFailure(error) === 'permanent') throw error;
      this.deferred = true;
      this.failure = `it did not answer: ${errorMessage(error)}`;
      this.ctx.events.emit('drain-error', { error: `index check deferred: ${errorMessage(error)}` });
    }
    this.found ??= (await this.drift())?.reason; // a repair another process left unfinished
  }

  /** Binding (or its check) and the version-regression check; sets {@link found}. */
  private async verifyIndex(mode: 'verify' | 'rebind'): Promise<void> {
    const { relational, vector, clock } = this.ctx;
    if (vector.identity) {
      const identity = await vector.identity();
      const outcome = await bindIndex(
        relational,
        { ...identity, embedder: this.ctx.embedderId },
        mode,
        clock.now(),
        this.claimIndex(),
        () => this.foreignRows(),
        // At start, the bound index found at another path or name (a moved directory) moves the binding — not from
        // an inspecting process (the operator commands), which writes nothing: no binding, no owner stamp, no
        // drift record (helper-56: `status` moved the binding to a copy; on a fresh source it bound it).
        { allowMove: this.options.repairs, readOnly: this.inspectsOnly, checkpoint: this.checkpointProbe() },
      );
      if (outcome.kind === 'replaced' || outcome.kind === 'rebound') this.found = outcome.reason;
      if (outcome.kind === 'moved' && outcome.repair) this.found = outcome.repair;
      if (outcome.kind === 'moved') this.followMove();
    }
    this.found ??= await this.versionRegression();
    // Before delivery starts: an older copy of the index restored while the app was down is repaired before the
    // first delivery writes on top of it.
    this.found ??= await this.acknowledgedWritesLost();
    this.found ??= await passCheckpoint(relational, vector, { stamp: !this.inspectsOnly });
    // Rows removed (or added) behind dualwrite's back while the app was down, among the older records that the
    // look-up above does not reach: found now, so a flush after the start waits for their repair.
    this.found ??= await this.countMismatch();
    this.found ??= await this.rowsAheadOfSource();
  }

  /**
   * Resolves when the source of truth is bound to this process's embedder (or either has none). Otherwise —
   * another process rebound the source to another embedder — stops delivery as a periodic check finding it
   * would (`onMisbound`), so this process never fills embeddings, or the index, with a model the source no
   * longer names. One read of the binding; skipped while the index is unverified (this process's own binding
   * has not run yet).
   * @throws {IndexBindingError} on field `embedder`.
   */
  async assertEmbedderBound(): Promise<void> {
    const mine = this.ctx.embedderId;
    if (mine === null || this.deferred) return;
    const bound = await readBinding(this.ctx.relational);
    if (bound === undefined || bound.embedder === null || bound.embedder === mine) return;
    const error = new IndexBindingError(['embedder'], { ...bound }, { ...bound, embedder: mine });
    this.misboundBy(error);
    throw error;
  }

  /**
   * Resolves when the source of truth is still bound to this process's index — what a delivery checks before
   * its ack, and a sync-2pc write before its commit, so neither marks a record synced into an index the source
   * no longer names. Before, a process left running with the old configuration after another rebound the source
   * to another table or directory kept delivering into the old one and acknowledging — lost from the bound index
   * while `syncStatus` read synced — until its next periodic check, and for good with `driftCheck: false` (a
   * break-it round: 1,364 acknowledgements in 45 s; under sync-2pc 486 puts resolved). One read of the binding;
   * when it changed since this process last found it its own, the full identity check runs (as a periodic check
   * would: a binding moved to where this process reaches the same index passes). While the binding names
   * another place than this process's (the same index reached another way, or a copy of it), the check runs at
   * every call: a copy falls behind the bound index's checkpoint at any moment (a break-it round: two processes
   * starting at once on two copies, one found itself current once, and acknowledged into its copy for good).
   * @throws {IndexBindingError} naming what differs; delivery in this process is stopped (or held, field
   *   `checkpoint`).
   */
  async assertBound(): Promise<void> {
    if (this.misbinding) throw this.misbinding;
    if (this.heldBy) throw this.heldBy;
    if (this.deferred || !this.ctx.vector.identity) return;
    const bound = await readBinding(this.ctx.relational);
    if (bound === undefined) return;
    const key = bindingKey(bound);
    if (key === this.boundAs && !this.reachedElsewhere) {
      this.passedAt = this.ctx.clock.now();
      return;
    }
    await this.identityChanged();
    if (this.misbinding) throw this.misbinding;
    if (this.heldBy) throw this.heldBy;
    // The binding read before the check, not after: one moved meanwhile is checked at the next call.
    this.boundAs = key;
    this.passedAt = this.ctx.clock.now();
  }

  /**
   * Stops this process's delivery for `error` (once), as a check that found the binding not this process's would.
   * The error of a hold (what {@link assertBound} throws while this index misses the bound one's checkpoint,
   * passed back here by the delivery it refused) holds, and does not stop.
   */
  misboundBy(error: IndexBindingError): void {
    if (this.misbound || error === this.heldBy) return;
    this.misbinding = error;
    this.stopped = true;
    this.ctx.onMisbound(error);
  }

  /** `true` while the index could not be checked yet (it was unreachable at open): hold delivery. */
  get unverified(): boolean {
    return this.deferred || this.heldBy !== undefined;
  }

  /** Why delivery is held (see {@link IndexGuardContext.onHeld}), or `undefined`. */
  get held(): IndexBindingError | undefined {
    return this.heldBy;
  }

  /** Starts the repair {@link open} called for, and the periodic check. */
  start(): void {
    if (this.found) this.startRepair(this.found);
    this.found = undefined;
    this.schedule();
  }

  /** The drift being repaired (by any process sharing the source of truth), or `null`. */
  async drift(): Promise<IndexDrift | null> {
    const raw = await this.ctx.relational.getMeta(INDEX_DRIFT_KEY);
    if (raw === undefined) return this.unrepaired;
    try {
      return JSON.parse(raw) as IndexDrift;
    } catch {
      return { reason: raw, since: 0 };
    }
  }

  /** Resolves when the repair this process runs (if any) has enqueued its repairs. */
  async settled(): Promise<void> {
    await this.repairing;
  }

  /**
   * What this process is doing about the index right now that a flush must wait for, or `undefined`: the index
   * could not be checked yet, a check is running (it may be about to start a repair), or a repair is running.
   */
  get busy(): string | undefined {
    if (this.deferred) return this.unchecked();
    if (this.checking) return 'a check of the index is running';
    if (this.repairing) return 'a repair of the index is running';
    return undefined;
  }

  /**
   * Why the index could not be checked yet, with the last check's failure: a flush that times out says it (a
   * CI run's flush said only "could not be checked yet" while a check of a stalled Chroma collection ran on).
   */
  private unchecked(): string {
    return `the index could not be checked yet${this.failure ? ` (${this.failure})` : ''}`;
  }

  /**
   * When the latest repair of any process sharing the source of truth had enqueued its repairs (the repairing
   * process's clock ms, {@link INDEX_REPAIRED_AT_KEY}; `0` before the first): entries enqueued before then stand
   * for writes accepted before the repair.
   */
  async lastRepairAt(): Promise<number> {
    const raw = await this.ctx.relational.getMeta(INDEX_REPAIRED_AT_KEY);
    const at = raw === undefined ? 0 : Number(raw);
    return Number.isFinite(at) ? at : 0;
  }

  /**
   * Why the index cannot be counted on to hold what was acknowledged, after doing what this process can about
   * it, or `undefined` when nothing is in question: a check or a repair running here is awaited; a drift still
   * recorded — left by a repair of this process that failed, or by another process for longer than
   * {@link FOREIGN_DRIFT_PATIENCE_MS} (sooner, that process's repair is waited for) — is repaired here, awaited
   * (at most once a second, {@link FLUSH_REPAIR_RETRY_MS}). Flush waits on this: entries a repair enqueues stand
   * for writes accepted before it.
   */
  async inQuestion(): Promise<string | undefined> {
    await this.checking?.catch(() => {});
    await this.repairing;
    if (this.deferred) return this.unchecked();
    const drift = await this.drift();
    if (drift === null) return undefined;
    // Another process's drift is its repair's to clear; one left standing (the process died, or failed) is
    // repaired here too. A full repair is a full read of both stores: not one per waiting process.
    const now = this.ctx.clock.now();
    const ours = drift.since === this.recordedSince;
    if (
      (ours || drift.forOthers === true || now - drift.since >= FOREIGN_DRIFT_PATIENCE_MS) &&
      now - this.flushCheckedAt >= FLUSH_REPAIR_RETRY_MS
    ) {
      this.flushCheckedAt = now;
      await this.check().catch((error: unknown) => {
        this.failure = `its check failed: ${errorMessage(error)}`;
      });
      await this.repairing;
    }
    const left = await this.drift();
    if (left === null) return undefined;
    return `the index drifted and is not repaired yet (${left.reason}${this.failure ? `; ${this.failure}` : ''})`;
  }

  /** One round of checks (identity, counts, optional sample); starts a repair when anything is off. */
  check(): Promise<void> {
    this.checking ??= this.runCheck().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  /**
   * What a flush reads of the index before it answers: the index's identity (one read), and the store's pending
   * rewind — a table or collection dropped or replaced while this process wrote nothing to it, which no write
   * could show. Starts the repair either finds (the flush then waits for it, {@link busy}). Shares
   * {@link check}'s slot: a running check is awaited instead. Reads nothing while the index is unchecked,
   * misbound or being repaired (a flush waits for those already).
   */
  glance(): Promise<void> {
    if (this.stopped || this.deferred || this.misbound || this.repairing) return Promise.resolve();
    this.checking ??= this.replacedOrRewound()
      .then((reason) => {
        if (reason && !this.misbound) void this.startRepair(reason);
      })
      .finally(() => {
        this.checking = null;
      });
    return this.checking;
  }

  /**
   * Why the index is another one than this process fed: its identity changed (recreated, replaced), or the store
   * saw it go back or open again (`VectorStore.takeRewind`). The store's pending rewind is taken even when the
   * identity check found the change: it saw the same reopen, and a rewind left pending would start a second full
   * repair at the next write. `undefined` also when the identity check found this process misbound.
   */
  private async replacedOrRewound(): Promise<string | undefined> {
    const changed = await this.identityChanged();
    if (this.misbound) return undefined;
    const rewound = this.ctx.vector.takeRewind?.();
    return changed ?? rewound;
  }

  /** Stops the periodic check and waits for a running repair. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.checking?.catch(() => {});
    await this.repairing;
  }

  /**
   * The vector store saw the index go back in time under it (`VectorStore.takeRewind`: an older copy restored
   * while this process ran): repairs it now — or, when a repair is running (it may have read the index before
   * the rewind), once more after it. While stopping, only records the drift, which the next start repairs.
   */
  rewound(reason: string): void {
    if (this.stopped) {
      void recordDrift(this.ctx.relational, { reason, since: this.ctx.clock.now() }).catch(() => {});
      return;
    }
    const running = this.repairing;
    if (running) void running.then(() => (this.stopped ? undefined : this.startRepair(reason)));
    else void this.startRepair(reason);
  }

  /**
   * Records the drift and starts the full repair reconcile (unless one is running).
   * @returns the running repair.
   */
  startRepair(reason: string): Promise<ReconcileReport | undefined> {
    if (this.repairing) return this.repairing;
    if (this.misbound) return Promise.resolve(undefined); // this process's configuration is not the binding's
    const { relational, vector, clock, events } = this.ctx;
    if (!this.options.repairs) {
      // An inspecting process (the operator commands) writes nothing: it reports the drift, which a process
      // that checks finds and repairs (helper-54: `reconcile --dry-run` and `status` enqueued repairs).
      if (this.unrepaired === null) {
        this.unrepaired = { reason, since: clock.now() };
        events.emit('index-drift', this.unrepaired);
      }
      return Promise.resolve(undefined);
    }
    const drift: IndexDrift = { reason, since: clock.now() };
    this.recordedSince = drift.since;
    this.repairing = (async () => {
      try {
        // Found at start, at the binding's place — which another process starting at once may have moved
        // meanwhile: a repair here would stamp this copy above the bound one. Its binding check holds it instead.
        if (holdsCheckpoint(vector) && vector.identity && !(await this.stillBoundHere())) {
          await this.identityChanged();
          if (this.heldBy || this.misbound) return undefined;
        }
        await recordDrift(relational, drift);
        events.emit('index-drift', drift);
        // Checks from here on expect the index this repair leaves, not the one it found.
        await restampCheckpoint(relational, vector);
        // After an embedder change, the old embedder's embeddings go first (each cleared record is enqueued).
        const reembedded = (await pendingEmbedderChange(relational))
          ? await clearFilledEmbeddings(relational, clock.now())
          : 0;
        const report = await reconcile(relational, vector, clock, { mode: 'full' });
        await relational.setMeta(INDEX_REPAIRED_AT_KEY, String(clock.now()));
        this.failure = undefined;
        if (report.repairsEnqueued + reembedded > 0) await this.ctx.afterRepair();
        // Every difference is now an outbox entry: pending is what syncStatus reports from here on.
        await relational.setMeta(INDEX_DRIFT_KEY, null);
        events.emit('index-repaired', {
          reason,
          missing: report.missing,
          stale: report.stale,
          mismatched: report.mismatched,
          orphans: report.orphans,
          duplicates: report.duplicates,
          repairsEnqueued: report.repairsEnqueued,
          reembedded,
        });
        return report;
      } catch (error) {
        // The drift stays recorded; the next check (or the next start) retries the repair.
        this.failure = `its repair failed: ${errorMessage(error)}`;
        events.emit('drain-error', { error: `index repair: ${errorMessage(error)}` });
        return undefined;
      } finally {
        this.repairing = null;
      }
    })();
    return this.repairing;
  }

  /**
   * Next periodic check (a deferred verification, or a hold, is re-checked every second even with
   * `driftCheck: false`). One timer at a time: a hold starting during a check schedules the next already.
   */
  private schedule(): void {
    const waiting = this.deferred || this.heldBy !== undefined;
    if (this.stopped || this.timer || (this.options.driftCheck === false && !waiting)) return;
    const delay = waiting ? Math.min(this.intervalMs, 1_000) : this.intervalMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check()
        // Said, not swallowed: a check that fails every time finds nothing (a break-it round: one index row whose
        // metadata read back as `null` failed each check without a word, and another row's edit went unfound).
        .catch((error: unknown) =>
          this.ctx.events.emit('drain-error', { error: `index check failed: ${errorMessage(error)}` }),
        )
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async runCheck(): Promise<void> {
    if (this.deferred) {
      try {
        await this.verifyIndex(this.options.binding);
        this.deferred = false;
        this.failure = undefined;
        this.ctx.onVerified();
      } catch (error) {
        if (!(error instanceof IndexBindingError)) {
          this.failure = `it did not answer: ${errorMessage(error)}`;
          return; // still unreachable: next time
        }
        this.deferred = false;
        this.misboundBy(error);
        return;
      }
      if (this.found) this.startRepair(this.found);
      this.found = undefined;
    }
    if (this.repairing) return;
    const replaced = await this.replacedOrRewound();
    // This process's configuration is not the binding's, or its index misses the bound one's checkpoint: it
    // repairs nothing (a rolled-back bound index is repaired by a process at the binding's place).
    if (this.misbound || this.heldBy) return;
    const reason =
      replaced ??
      (await this.versionRegression()) ??
      (await passCheckpoint(this.ctx.relational, this.ctx.vector, { stamp: !this.inspectsOnly })) ??
      (await this.countMismatch()) ??
      (await this.acknowledgedWritesLost()) ??
      (await this.rowsAheadOfSource()) ??
      (await this.sweep.next(this.ctx.relational, this.ctx.vector, () => this.intentIds())) ??
      (await this.sampled());
    if (reason) this.startRepair(reason);
    else {
      const recorded = await this.drift();
      if (recorded) this.startRepair(recorded.reason);
    }
  }

  /**
   * The store re-resolved its collection to another instance (dropped and recreated). A binding that no longer
   * matches this process stops delivery instead — another source of truth took the index over (its owner token
   * on the index), or another process rebound the source to another index or embedder: repairing with this
   * process's configuration would fight it (and fill the index with the old embedder's vectors).
   */
  private async identityChanged(): Promise<string | undefined> {
    const { relational, vector, clock } = this.ctx;
    if (!vector.identity) return undefined;
    let identity: VectorIndexIdentity;
    try {
      identity = await vector.identity();
    } catch (error) {
      // The store found its collection replaced by one it cannot use (another distance or dimension).
      if (asDualwriteError(error)?.code !== 'INDEX_BINDING') throw error;
      this.misboundBy(error as IndexBindingError);
      return undefined;
    }
    let behind: IndexBindingError | undefined;
    const outcome = await bindIndex(
      relational,
      { ...identity, embedder: this.ctx.embedderId },
      'verify',
      clock.now(),
      this.claimIndex(),
      () => this.foreignRows(),
      { readOnly: this.inspectsOnly, checkpoint: this.checkpointProbe() },
    ).catch((error: unknown): BindingOutcome => {
      if (error instanceof IndexBindingError) {
        if (error.fields.length === 1 && error.fields[0] === 'checkpoint') behind = error;
        else this.misboundBy(error);
        return { kind: 'bound' };
      }
      return { kind: 'replaced', reason: errorMessage(error) };
    });
    this.reachedElsewhere = behind !== undefined || (outcome.kind === 'bound' && outcome.elsewhere === true);
    await this.holdWhileBehind(behind);
    return outcome.kind === 'bound' ? undefined : outcome.reason;
  }

  /**
   * Holds delivery while this index misses a checkpoint the source stamped on the bound index elsewhere, and
   * resumes it once a check finds it holding one. Not a stop: the same index reached another way (a bind mount,
   * another spelling of a server's URL) misses it too after the bound index went back in time, until the repair
   * by a process at the binding's place stamps a new one (a break-it round: stopping there was for good).
   */
  private async holdWhileBehind(behind: IndexBindingError | undefined): Promise<void> {
    const now = this.ctx.clock.now();
    if (behind && !this.heldBy) {
      const bound = await readBinding(this.ctx.relational);
      if (this.heldBy) return; // another check started the hold meanwhile
      this.heldBy = behind;
      this.hold = {
        since: now,
        // What this process acknowledged into its index since the binding moved away (between the move and this
        // check) may be missing from the bound one. Nothing acknowledged since, nothing to repair (a held worker
        // made every record read drifted until a needless full repair).
        ackedSinceMove: !this.inspectsOnly && this.passedAt >= (bound?.boundAt ?? Number.NEGATIVE_INFINITY),
      };
      this.ctx.onHeld(behind);
      if (!this.timer) this.schedule(); // re-checked every second, also with `driftCheck: false`
    } else if (behind && this.hold?.ackedSinceMove && now - this.hold.since >= HOLD_BEFORE_DRIFT_MS) {
      // Still held: a copy, not a stamp lowered for a moment (Chroma's stamp is a read and a write of the whole
      // metadata, so racing stamps can leave a lower one until the next; a break-it round held the same collection
      // reached as localhost for 0.2–0.8 s). A process at the binding's place repairs what this one acknowledged.
      this.hold.ackedSinceMove = false;
      void recordDrift(this.ctx.relational, { reason: behind.message, since: now, forOthers: true }).catch(
        () => {},
      );
    } else if (!behind && this.heldBy) {
      this.heldBy = undefined;
      this.hold = undefined;
      this.ctx.onVerified();
    }
  }

  /**
   * After this process moved the binding to where it reaches the index: a process starting at the same moment on
   * a copy of it (at the old place) may stamp and record a higher checkpoint on its copy than this one holds —
   * then neither reads as behind. Looks again {@link MOVE_FOLLOW_UPS_MS} after the move, and stamps above it,
   * so the copy falls behind (and its process is held at its next check). A break-it round: two processes started
   * at once on an original and a fresh copy, and the one off the binding kept acknowledging into its copy.
   */
  private followMove(): void {
    const { relational, vector } = this.ctx;
    if (!holdsCheckpoint(vector)) return;
    for (const ms of MOVE_FOLLOW_UPS_MS)
      setTimeout(() => {
        if (this.stopped || this.misbound || this.heldBy) return;
        void this.stillBoundHere()
          .then(async (here) => {
            // Moved away since (another start at once elsewhere won): that place's process repairs, not this one.
            const behind = here ? await checkpointBehind(relational, vector) : undefined;
            // Another process stamped a higher checkpoint on another copy: it may have acknowledged into it
            // what this one lacks. The repair stamps above it, so that copy's process is held at its next check.
            if (behind)
              this.startRepair(
                `the index holds checkpoint ${behind.held}, below the ${behind.recorded} the source recorded since this process moved the binding here: another process stamped a copy of it`,
              );
          })
          .catch(() => {}); // the periodic check, the next start, or the next follow-up looks again
      }, ms).unref();
  }

  /** Whether the binding names the place (location and collection) where this process reaches its index. */
  private async stillBoundHere(): Promise<boolean> {
    const [bound, identity] = await Promise.all([
      readBinding(this.ctx.relational),
      this.ctx.vector.identity!(),
    ]);
    return bound?.location === identity.location && bound.collection === identity.collection;
  }

  /** The index checkpoint's reading and stamp for {@link bindIndex} (a copy at another place), where it has one. */
  private checkpointProbe(): CheckpointProbe | undefined {
    const { relational, vector } = this.ctx;
    if (!holdsCheckpoint(vector)) return undefined;
    return {
      behind: () => checkpointBehind(relational, vector),
      restamp: () => restampCheckpoint(relational, vector),
    };
  }

  /** Neither repairs nor writes the index: binds and stamps nothing (see {@link bindIndex}'s `readOnly`). */
  private get inspectsOnly(): boolean {
    return !this.options.repairs && !this.options.writesIndex;
  }

  /**
   * The store's `claimIndex` (where it has one), read back: neither backend has a compare-and-set for the
   * index's metadata, so two sources of truth claiming a fresh index at once both read no owner and both write
   * theirs; the later write wins. After a pause of about {@link CLAIM_SETTLE_MS} (jittered) the claim reads the
   * owner again and refuses when another source's token landed: that source keeps the index, this one does not
   * start ({@link IndexBindingError} on field `owner`). A write landing after the pause is found by the periodic
   * check instead (this process then stops delivery). Runs at a first bind or a rebind only.
   */
  private claimIndex(): ClaimIndex | undefined {
    const { vector } = this.ctx;
    const { claimIndex, identity } = vector;
    if (!claimIndex || !identity) return claimIndex?.bind(vector);
    return async (token) => {
      await claimIndex.call(vector, token);
      await new Promise((resolve) => setTimeout(resolve, CLAIM_SETTLE_MS * (0.5 + Math.random())));
      const owner = (await identity.call(vector)).owner ?? null;
      if (owner !== token) throw new IndexBindingError(['owner'], { owner: token }, { owner });
    };
  }

  /** Rows among the index's first 1,000 without a version dualwrite hands out (an integer from 1). */
  private async foreignRows(): Promise<{ foreign: number; sampled: number }> {
    const { items } = await this.ctx.vector.listIds({ limit: FOREIGN_ROWS_SAMPLE });
    const foreign = items.filter((row) => !(Number.isSafeInteger(row.version) && row.version >= 1)).length;
    return { foreign, sampled: items.length };
  }

  /**
   * The index's row count against what the source allows. Every live record without an outbox entry claims to
   * be in the index, so it holds at least `live - pending - dead` rows (emptied in place, a server restarted on
   * a wiped data dir, when fewer); and a row can exist only for a live record or a deleted one whose delete is
   * pending or dead-lettered, so at most `live + pending + dead` (rows another tool wrote, or an id held twice,
   * when more). The index is counted before and after the source, and either finding must show in both counts,
   * so a delivery, write or delete landing in between cannot fake one.
   */
  private async countMismatch(): Promise<string | undefined> {
    const { relational, vector, clock } = this.ctx;
    return confirmedTwice(async () => {
      const rowsBefore = await vector.count();
      const live = await countLiveRecords(relational);
      const { depth, deadLetters, deletes } = await relational.outboxStats(clock.now());
      const dead = await deadLetterRows(relational, vector, deadLetters);
      // A sync-2pc write between its index write and its SQL commit has one row more or less in the index.
      const inFlight = (await this.openIntents()).length;
      const rowsAfter = await vector.count();
      // Beyond live records, the index may hold rows of tombstones not delivered yet (or dead-lettered).
      const [claimed, bound] = [
        live - depth - dead.absent + dead.heldDeletes - inFlight,
        live + (deletes ?? depth + deadLetters) + inFlight,
      ];
      // A write or a delete landing between the reads moves one count and not the other.
      const [fewest, most] = [Math.min(rowsBefore, rowsAfter), Math.max(rowsBefore, rowsAfter)];
      if (most < claimed)
        return `the index holds ${most} rows but ${claimed} records claim to be synced into it`;
      if (fewest > bound)
        return `the index holds ${fewest} rows but at most ${bound} records can be in it (rows of unknown ids, or ids held twice)`;
      return undefined;
    });
  }

  /**
   * The index holds one of the recently acknowledged writes below its acknowledged version, or not at all: it
   * lost writes it had taken — an older copy restored (by a file copy, a snapshot, the index's own time
   * travel), rows removed behind dualwrite's back. Looked up: the {@link RECENT_ACKS} live records with the
   * highest `syncedVersion`, and every one acknowledged since this process's previous passing look (above the
   * highest version it looked up then — or below the lowest version then pending or held by a sync-2pc intent,
   * which may be acknowledged after higher ones), lowest first, up to {@link SINCE_LAST_CHECK_MAX}: when more
   * were acknowledged, the next look goes on above the last one looked up, so none is skipped; and the dead
   * letters of the previous look that were since requeued and acknowledged at their older versions
   * ({@link DeadLetterWatch}). Later
   * writes raise the index's highest version and can restore its row count, but do not hide this — a copy older
   * than the previous check is also found by the index checkpoint ({@link passCheckpoint}), one taken since by
   * this look (a restore under a running LanceDB store is also seen by its next write: `VectorStore.takeRewind`). Records with outbox work or
   * a sync-2pc intent are left out (their row is in flux). Read source first, index second: a delivery in
   * between only raises the index's versions. Confirmed by a second read.
   */
  private async acknowledgedWritesLost(): Promise<string | undefined> {
    const { relational, vector, clock } = this.ctx;
    if (!relational.recentlySynced) return undefined;
    return confirmedTwice(async () => {
      const handedOut = await relational.currentVersion();
      // Read before the acknowledgements: a change pending now may be acknowledged after changes numbered above
      // it, so the next look must reach below it.
      const { lowestPendingVersion } = await relational.outboxStats(clock.now());
      const deadNow = await this.deadLetters.current(relational);
      const intents = await this.openIntents();
      const inFlight = new Set(intents.map((intent) => intent.recordId));
      const floor = this.verifiedUpTo;
      const top = await relational.recentlySynced!(RECENT_ACKS);
      const since =
        floor === null ? [] : await relational.recentlySynced!(SINCE_LAST_CHECK_MAX, floor, 'lowest-first');
      const requeued = await this.deadLetters.acknowledged(relational);
      const recent = [...new Map([...top, ...since, ...requeued].map((r) => [r.id, r])).values()].filter(
        (r) => !inFlight.has(r.id),
      );
      const held =
        recent.length === 0 ? new Map<string, number>() : await vector.getVersions(recent.map((r) => r.id));
      const lost = await this.stillSettled(recent.filter((r) => (held.get(r.id) ?? -1) < r.syncedVersion));
      // Held above the acknowledged version, with nothing in flight: the index has a state of the record the
      // source no longer has — the source went back in time (restored from a backup: a write since then may
      // have moved its sequence past the index's highest version, so {@link versionRegression} cannot see it),
      // or another tool rewrote the row's version.
      const ahead =
        lost.length > 0
          ? []
          : await this.stillSettled(recent.filter((r) => (held.get(r.id) ?? -1) > r.syncedVersion));
      if (ahead.length > 0) {
        const named = ahead
          .slice(0, 3)
          .map((r) => `${JSON.stringify(r.id)} v${held.get(r.id)} > v${r.syncedVersion}`);
        return `the index holds ${ahead.length} of the ${recent.length} most recently acknowledged records at versions above the ones the source acknowledged (${named.join(', ')}${ahead.length > 3 ? ', …' : ''}): the source went back in time (restored from a backup?), or another tool rewrote them`;
      }
      if (lost.length === 0) {
        // A full page leaves acknowledgements above its highest one for the next look.
        const reached =
          since.length === SINCE_LAST_CHECK_MAX
            ? Math.max(...since.map((r) => r.syncedVersion))
            : Math.max(floor ?? 0, ...recent.map((r) => r.syncedVersion));
        const outstanding = [lowestPendingVersion ?? null, ...intents.map((intent) => intent.version)].filter(
          (v): v is number => v !== null,
        );
        // A version drawn since the previous look began may have been written, or acknowledged out of order,
        // while this one read: looked up again by the next look (the first look has no previous: its own).
        const settled = this.handedOutBeforeLook ?? handedOut;
        this.verifiedUpTo = Math.max(0, Math.min(reached, settled, ...outstanding.map((v) => v - 1)));
        this.handedOutBeforeLook = handedOut;
        this.deadLetters.watch(deadNow);
        return undefined;
      }
      const named = lost.slice(0, 3).map((r) => `${JSON.stringify(r.id)} v${r.syncedVersion}`);
      return `the index lacks ${lost.length} of the ${recent.length} most recently acknowledged writes (${named.join(', ')}${lost.length > 3 ? ', …' : ''}): it lost writes (an older copy restored?)`;
    });
  }

  /**
   * Of `candidates` (settled when the look read them), those still settled at the same acknowledged version:
   * live, no outbox entry, no sync-2pc intent. A delete or a new write of the id since that read (it moves the
   * index row) explains a row the index no longer holds; an older copy of the index restored does not.
   */
  private async stillSettled(candidates: SyncedVersion[]): Promise<SyncedVersion[]> {
    if (candidates.length === 0) return candidates;
    const settled = await settledRecords(
      this.ctx.relational,
      candidates.map((c) => c.id),
    );
    const intended = new Set((await this.openIntents()).map((intent) => intent.recordId));
    return candidates.filter(
      (c) => settled.get(c.id)?.syncedVersion === c.syncedVersion && !intended.has(c.id),
    );
  }

  /**
   * The index rows delivered since the previous check that are ahead of their records (see
   * {@link rowsAheadOfSource}): the source went back in time — a backup taken since that check, whose lost states
   * may belong to any record — or another source writes to the index.
   */
  private async rowsAheadOfSource(): Promise<string | undefined> {
    const handedOut = await this.ctx.relational.currentVersion(); // before the index rows are read
    const found = await rowsAheadOfSource(
      this.ctx.relational,
      this.ctx.vector,
      () => this.intentIds(),
      this.handedOutBeforeRowsCheck,
    );
    if (found === undefined) this.handedOutBeforeRowsCheck = handedOut;
    return found;
  }

  /** The ids of the logged sync-2pc intents. */
  private intentIds(): Promise<Set<string>> {
    return openIntentIds(this.ctx.relational);
  }

  /** Logged sync-2pc intents: their records' index rows may be ahead of SQL until the write commits. */
  private openIntents(): Promise<TwoPhaseIntent[]> {
    return openIntents(this.ctx.relational);
  }

  private async sampled(): Promise<string | undefined> {
    if (this.sampleRate <= 0) return undefined;
    const { relational, vector, clock } = this.ctx;
    const report = await reconcile(relational, vector, clock, {
      mode: 'sample',
      sampleRate: this.sampleRate,
      dryRun: true,
    });
    const found = report.missing + report.stale + report.mismatched + report.orphans + report.duplicates;
    if (found === 0) return undefined;
    return `a sampled check of ${report.checkedRecords} records found ${report.missing} missing, ${report.stale} stale, ${report.mismatched} with other content, ${report.orphans} orphans, ${report.duplicates} duplicates`;
  }

  /**
   * The index holds a version the source never handed out: the source went back in time (a restore from
   * a backup, a reset sequence), or another source writes to the index — a copy of this database carries its
   * owner token, so only its versions running ahead tell it apart (checked at start and by every periodic
   * check). Moves the sequence past it, so new writes pass the index's version fence; the rows the index holds
   * from the lost future (or the other source) are then repaired. A version beyond any a source hands out
   * ({@link isForeignVersion}) moves nothing: those rows are replaced by the repair. A copy writing beside the
   * source is found again at later checks, each one reported (`index-drift`) and repaired; nothing here tells it
   * from a restore, so delivery is never stopped for it (stopping at a second finding stopped a source restored
   * twice, found by a break-it round).
   * @returns the reason to repair, or `undefined`.
   */
  private async versionRegression(): Promise<string | undefined> {
    const { relational, vector, events } = this.ctx;
    if (!vector.maxVersion) return undefined;
    // The index first: a version delivered between the two reads was handed out before the second.
    const indexVersion = await vector.maxVersion();
    if (indexVersion === null || indexVersion <= (await relational.currentVersion())) return undefined;
    if (isForeignVersion(indexVersion))
      return `the index holds version ${indexVersion}, beyond any version a source hands out: rows written by another tool (the repair replaces them from the source of truth)`;
    await relational.transaction((tx) => tx.nextVersion(indexVersion));
    // Found while `createDualWrite` runs, before the caller can listen: emitted once the event loop turns.
    setImmediate(() => events.emit('version-regression', { ids: [], indexVersion }));
    return `the index holds version ${indexVersion}, beyond the source's sequence: the source went back in time (restored from a backup?), or another source writes to this index (a copy of this database carries its owner token)`;
  }
}

/** How many of the most recently acknowledged writes a check looks up in the index. */
const RECENT_ACKS = 32;

/**
 * Most acknowledged writes one check looks up beyond {@link RECENT_ACKS}: those acknowledged since this
 * process's previous passing check, lowest version first (at the default 30 s interval, all of them up to about
 * 160 writes/s; beyond, the next checks go on where this one stopped; an id lookup of 5,000 is five `IN` scans
 * on LanceDB).
 */
const SINCE_LAST_CHECK_MAX = 5_000;

/**
 * Runs `check` (a reading of both stores that returns a drift reason, or `undefined`) and, if it found one,
 * once more: a drift is reported only when both readings find one (a delivery, a delete or a duplicate's repair
 * settling between two reads can make one reading off by a row or a version), with the second one's reason.
 */
async function confirmedTwice(check: () => Promise<string | undefined>): Promise<string | undefined> {
  if ((await check()) === undefined) return undefined;
  return check();
}

/** The fields of a binding that name an index and its embedder (not when it was written), as JSON. */
function bindingKey(binding: IndexBinding): string {
  const { backend, location, collection, instanceId, dimension, embedder } = binding;
  return JSON.stringify([backend, location, collection, instanceId, dimension, embedder]);
}
