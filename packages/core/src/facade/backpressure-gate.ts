import type { RelationalStore } from '../contracts/relational-store.js';
import { BackpressureError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { BackpressureOptions } from './dualwrite-options.js';

/** A write let through by {@link BackpressureGate.admit}; `done` once it finished (committed or not). */
export interface Admission {
  /**
   * A unit of work's next write of `changes` entries, counted as running like the admitted ones. It never waits
   * (the caller holds a SQL transaction and its locks).
   * @throws {BackpressureError} when the other writes already take the outbox to `maxDepth`.
   */
  extend(changes: number): void;
  /** @param enqueued - outbox entries the write left pending (none for a write delivered in the call). */
  done(enqueued: number): void;
}

const NOTHING_HELD: Admission = { extend: () => {}, done: () => {} };

/**
 * Backpressure: holds or rejects a write while the outbox is at or past `maxDepth`. The depth it compares is
 * the outbox's pending count read at most `depthCacheMs` ago, plus the changes of this process's writes admitted
 * and still running, plus the entries those that finished since that read began left pending (they may be
 * missing from it; counting one twice only rejects early). So concurrent writes of one process never take the
 * outbox past the limit by racing the count (before, a burst of concurrent requests all read one depth under the
 * limit and all got in); writers in other processes are seen at the next read. A unit of work is admitted like a
 * one-change write and then counts each write it makes ({@link Admission.extend}), refused once the others reach
 * the limit. Like any admission it is a soft limit: one call admitted below it may take the outbox past it by
 * its own size.
 */
export class BackpressureGate {
  #read: { at: number; depth: number; finishedBefore: number } | null = null;
  #running = 0;
  #finished = 0;

  constructor(
    private readonly options: BackpressureOptions | undefined,
    private readonly relational: Pick<RelationalStore, 'outboxStats'>,
    private readonly clock: Clock,
    /** Resolves at the next delivery, or after `ms`. */
    private readonly waitForProgress: (ms: number) => Promise<void>,
    /** The strategy's name, for the error's component. */
    private readonly component: string,
  ) {}

  /**
   * Admits a write of `changes` outbox entries, or waits (`mode: 'wait'`) or throws.
   * @throws {BackpressureError} (retryable) when the outbox is at `maxDepth` (`'fail'`), or still is after
   *   `waitTimeoutMs` (`'wait'`).
   */
  async admit(changes: number): Promise<Admission> {
    const bp = this.options;
    if (!bp) return NOTHING_HELD;
    const deadline = this.clock.now() + (bp.waitTimeoutMs ?? 5_000);
    for (;;) {
      const depth = (await this.depth(bp.depthCacheMs ?? 100)) + this.#running;
      if (depth < bp.maxDepth) return this.hold(changes);
      const left = deadline - this.clock.now();
      if ((bp.mode ?? 'fail') === 'fail' || left <= 0)
        throw new BackpressureError(depth, bp.maxDepth, 1_000, { component: this.component });
      await this.waitForProgress(Math.min(left, 50));
    }
  }

  private hold(changes: number): Admission {
    const bp = this.options!;
    let held = changes;
    this.#running += held;
    let open = true;
    return {
      extend: (more) => {
        if (!open) return;
        const others = this.#pending() + this.#running - held;
        if (others >= bp.maxDepth)
          throw new BackpressureError(others, bp.maxDepth, 1_000, { component: this.component });
        held += more;
        this.#running += more;
      },
      done: (enqueued) => {
        if (!open) return;
        open = false;
        this.#running -= held;
        this.#finished += enqueued;
      },
    };
  }

  /** The pending count read at most `cacheMs` ago, plus what writes finished since that read began left pending. */
  private async depth(cacheMs: number): Promise<number> {
    const now = this.clock.now();
    if (!this.#read || now - this.#read.at >= cacheMs || cacheMs === 0) {
      const finishedBefore = this.#finished;
      const { depth } = await this.relational.outboxStats(now);
      this.#read = { at: now, depth, finishedBefore };
    }
    return this.#pending();
  }

  /** The last read's pending count plus what writes finished since it began left pending (0 before any read). */
  #pending(): number {
    return this.#read ? this.#read.depth + (this.#finished - this.#read.finishedBefore) : 0;
  }
}
