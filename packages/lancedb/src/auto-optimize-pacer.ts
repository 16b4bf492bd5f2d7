/** What {@link AutoOptimizePacer} reports about automatic optimizes. */
export interface AutoOptimizeState {
  /** Write calls after the latest optimize that make the next one due. */
  interval: number;
  /** Write calls since the latest optimize (automatic or explicit). */
  writesSince: number;
  /** Duration of the latest optimize, ms (`null` before the first). */
  lastRunMs: number | null;
  /** Optimizes recorded so far (automatic and explicit). */
  runs: number;
}

/**
 * Decides when the store optimizes by itself, so that automatic optimizes take at most `share` of its write
 * time whatever the table's size.
 *
 * Why not a fixed interval: LanceDB's `Table.optimize` (the only compaction the Node API offers, with Lance's
 * default compaction options) rewrites every fragment under one million rows together with the new small
 * ones — for most tables, the whole table. One run therefore costs time proportional to the table: measured
 * on this adapter (384-d, 2 shared cores, local disk), 50 single-record upserts then `optimize()`: 1,000 rows
 * 54–60 ms, 10,000 rows 195–287 ms, 50,000 rows 396–538 ms (fragments removed 51, added 1 every time). With
 * a fixed interval of 50 writes the average write would grow with the table without bound (at 50,000 rows
 * optimize already added ~9 ms to every 22 ms write).
 *
 * The rule: after each optimize taking `runMs`, the next comes after
 * `max(minWrites, ceil(runMs / (share × mean write ms since the previous one)))` write calls. Small tables keep
 * `minWrites` (reads stay fast: few fragments); large ones optimize less often, in proportion to what a run
 * costs. Reads then see more fragments between runs on large tables — call `optimize()` yourself at quiet
 * times if read latency matters more.
 */
export class AutoOptimizePacer {
  #interval: number;
  #writes = 0;
  #writeMs = 0;
  #lastRunMs: number | null = null;
  #runs = 0;
  /** An automatic optimize was asked for and has not finished. */
  #pending = false;

  /**
   * @param minWrites - fewest write calls between automatic optimizes (`autoOptimizeEvery`); 0 disables them.
   * @param share - largest share of write time automatic optimizes may take, in (0, 1].
   */
  constructor(
    readonly minWrites: number,
    readonly share: number,
  ) {
    this.#interval = minWrites;
  }

  /**
   * Counts a write call that took `ms`.
   * @returns `true` when an automatic optimize is due now — once, until {@link noteOptimize} or
   *   {@link noteOptimizeFailed}.
   */
  noteWrite(ms: number): boolean {
    this.#writes++;
    this.#writeMs += ms;
    if (this.#pending || this.minWrites === 0 || this.#writes < this.#interval) return false;
    this.#pending = true;
    return true;
  }

  /**
   * An automatic optimize failed: asked again after another interval of writes (not on the next one — a
   * persistent failure would otherwise put a whole-table optimize in front of every write).
   */
  noteOptimizeFailed(): void {
    this.#pending = false;
    this.#writes = 0;
    this.#writeMs = 0;
  }

  /** Records an optimize (automatic or explicit) that took `ms`, and sets when the next one is due. */
  noteOptimize(ms: number): void {
    const meanWriteMs = this.#writes > 0 ? this.#writeMs / this.#writes : 0;
    this.#interval =
      meanWriteMs > 0 ? Math.max(this.minWrites, Math.ceil(ms / (this.share * meanWriteMs))) : this.#interval;
    this.#lastRunMs = ms;
    this.#runs++;
    this.#pending = false;
    this.#writes = 0;
    this.#writeMs = 0;
  }

  /** The current state (for stats and tests). */
  state(): AutoOptimizeState {
    return {
      interval: this.#interval,
      writesSince: this.#writes,
      lastRunMs: this.#lastRunMs,
      runs: this.#runs,
    };
  }
}
