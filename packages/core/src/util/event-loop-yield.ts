import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Lets the event loop turn during a long run of writes that never wait on I/O: with an embedded store
 * (SQLite through better-sqlite3) every `await put()` resolves as a microtask, so a tight loop of puts
 * would otherwise starve timers, I/O completions (a LanceDB call finishing) and therefore delivery and
 * lease renewals in the same process. After `everyMs` of wall time since the last turn it yields once
 * (`setImmediate`: expired timers and I/O callbacks run before the writer resumes).
 */
export class EventLoopYield {
  private last = performance.now();

  /** @param everyMs - longest run without a turn, ms; `0` disables yielding. */
  constructor(private readonly everyMs: number) {}

  /** `true` when the caller should `await` {@link turn} before its next write. */
  due(): boolean {
    return this.everyMs > 0 && performance.now() - this.last >= this.everyMs;
  }

  /** One turn of the event loop. */
  async turn(): Promise<void> {
    await nextTurn();
    this.last = performance.now();
  }

  /** One turn of the event loop if {@link due}; otherwise resolves at once. */
  async ifDue(): Promise<void> {
    if (this.due()) await this.turn();
  }
}

/** Longest run of pages, ms, a paging loop over the stores (reconcile, verifyConsistency) goes without a turn. */
export const PAGE_LOOP_TURN_MS = 10;
