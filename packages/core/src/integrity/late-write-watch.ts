import { enqueueRepairs } from '../contracts/relational-operations.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import type { Clock } from '../util/clock.js';
import { notInFlight, openIntentIds } from './settled-records.js';

/**
 * When the ids of a vector write that may still land are looked at again, ms after its failure: soon enough to
 * catch a request a server or proxy held past the client's timeout (Chroma's default `requestTimeoutMs` is 30 s),
 * late enough to catch one held for minutes. Each look costs a read of the ids' records and index versions.
 */
export const LATE_WRITE_CHECKS_MS: readonly number[] = [2_000, 10_000, 60_000, 300_000];

/** Most ids watched at once (about 100 bytes each); past it the oldest failures are dropped. */
export const MAX_LATE_WRITE_IDS = 10_000;

/** What a {@link LateWriteWatch} reads, writes and reports to. */
export interface LateWriteWatchContext {
  relational: RelationalStore;
  vector: VectorStore;
  clock: Clock;
  /** Called with the ids it enqueued for repair (wake the drainer; count them). */
  repaired(ids: readonly string[]): void;
  /** Called when a look failed (a store unreachable); its ids are looked at again at the next time. */
  failed(error: unknown): void;
}

/**
 * Looks again at the records of vector writes that failed in a way that may still land, on a store without a
 * version fence (Chroma: nothing refuses an older state). A request the client gave up on (a timeout) can still
 * reach the index after a newer state of its record was delivered and acknowledged, and replace it — the index
 * then holds an older state (or a deleted record, or lacks a live one) while the outbox holds nothing for the
 * record and everything reads synced (a break-it round: 5 of 5 runs, under each strategy; found only by a
 * periodic check, on a large index hours later). At each of {@link LATE_WRITE_CHECKS_MS} after the failure, the
 * ids with nothing in flight (no outbox entry, no sync-2pc intent) whose index row is not the acknowledged state
 * — another version, missing for a live record, present for a deleted one — are enqueued for repair: the
 * current state is delivered again over the late one. An id still in flight at a look (its redelivery waits
 * out an outage) is watched again from that look, so its looks follow its delivery, not its failure (a
 * break-it round: delivered 73 s after a takeover, a late write landing 40 s later was looked at only at
 * the 300 s look).
 *
 * A process that died or stalled with a write in flight cannot watch its own ids: the drainer that takes its
 * entries over from an expired lease (`OutboxLease.takenOver`), or rolls back its abandoned sync-2pc intent,
 * watches them from then on (a break-it round: a dead worker's held Chroma write landed after the takeover's
 * delivery and was found only by a periodic check).
 *
 * Held in memory, so a process that stops forgets its ids (the periodic check remains), and a write landing
 * after the last look is left to the periodic check too.
 */
export class LateWriteWatch {
  readonly #ctx: LateWriteWatchContext;
  /** Failed writes' ids, oldest first, each with its failure time and the next look's index. */
  #watched: { ids: readonly string[]; failedAt: number; look: number }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #looking: Promise<void> | undefined;
  #stopped = false;

  constructor(ctx: LateWriteWatchContext) {
    this.#ctx = ctx;
  }

  /** Watches `ids`, whose vector write just failed in a way that may still land. */
  suspect(ids: readonly string[]): void {
    if (this.#stopped || ids.length === 0) return;
    this.#watch(ids);
    // Its first look may come before the one the timer waits for (a break-it round: an id suspected while the
    // timer waited for an older id's 300 s look was first looked at then, a late write staying 179 s).
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#arm();
  }

  #watch(ids: readonly string[]): void {
    this.#watched.push({ ids: [...new Set(ids)], failedAt: this.#ctx.clock.now(), look: 0 });
    let total = this.#watched.reduce((n, w) => n + w.ids.length, 0);
    while (total > MAX_LATE_WRITE_IDS && this.#watched.length > 1) total -= this.#watched.shift()!.ids.length;
  }

  /** Ids watched right now. */
  get size(): number {
    return this.#watched.reduce((n, w) => n + w.ids.length, 0);
  }

  /** Stops looking; waits for a look in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watched = [];
    await this.#looking;
  }

  #arm(): void {
    if (this.#stopped || this.#timer || this.#looking || this.#watched.length === 0) return;
    const next = Math.min(...this.#watched.map((w) => w.failedAt + LATE_WRITE_CHECKS_MS[w.look]!));
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#looking = this.#look().finally(() => {
          this.#looking = undefined;
          this.#arm();
        });
      },
      Math.max(0, next - this.#ctx.clock.now()),
    );
    this.#timer.unref?.();
  }

  async #look(): Promise<void> {
    const now = this.#ctx.clock.now();
    const due = this.#watched.filter((w) => w.failedAt + LATE_WRITE_CHECKS_MS[w.look]! <= now);
    let inFlight: readonly string[] = [];
    try {
      inFlight = await this.#repairBehind([...new Set(due.flatMap((w) => w.ids))]);
    } catch (error) {
      this.#ctx.failed(error);
    }
    const restart = new Set(inFlight);
    for (const w of due) {
      w.look++;
      if (restart.size > 0) w.ids = w.ids.filter((id) => !restart.has(id));
    }
    this.#watched = this.#watched.filter((w) => w.look < LATE_WRITE_CHECKS_MS.length && w.ids.length > 0);
    if (restart.size > 0 && !this.#stopped) this.#watch([...restart]);
  }

  /**
   * Enqueues repairs of the `ids` with nothing in flight whose index row is not their acknowledged state.
   * @returns the ids still in flight (not looked at).
   */
  async #repairBehind(ids: readonly string[]): Promise<readonly string[]> {
    const { relational, vector, clock } = this.#ctx;
    const quiet = await notInFlight(relational, ids, () => openIntentIds(relational));
    const quietSet = new Set(quiet);
    const inFlight = ids.filter((id) => !quietSet.has(id));
    if (quiet.length === 0 || this.#stopped) return inFlight;
    // Source first, index second: a delivery in between only moves the index forward (a needless repair at worst).
    const records = await relational.getRecords(quiet, { includeDeleted: true });
    const held = await vector.getVersions(quiet);
    const behind = quiet.filter((id) => {
      const record = records.get(id);
      if (record === undefined || record.deleted) return held.has(id);
      return held.get(id) !== (record.syncedVersion ?? record.version);
    });
    if (behind.length === 0 || this.#stopped) return inFlight;
    await enqueueRepairs(relational, behind, clock.now());
    this.#ctx.repaired(behind);
    return inFlight;
  }
}
