/**
 * Most outbox entries one claim grows to while the outbox is behind, by default (see {@link ClaimSize}).
 * Measured on SQLite + LanceDB, a 100,000-record backlog of 384-d records drained by `batch`
 * (`pnpm bench --backlog 100000 --batch-size N`, 2026-12-04, one run each): 100 per call took 55 s and
 * +395 MB of RSS over idle; 1,000 took 10.7 s and +181 MB; 2,500 took 9.8 s and +246 MB; 5,000 took 10.4 s
 * and +381 MB. A LanceDB merge insert scans the table's whole `id` column, so fewer, larger calls drain a
 * backlog in far less time, and past about 1,000 rows a call only costs memory.
 */
export const BACKLOG_CLAIM_SIZE = 1_000;

/**
 * Record data one grown claim aims to stay under, bytes (text as UTF-16 code units, embeddings as float32):
 * a backlog of 1 MiB texts grows its claims no further than about 16 per call. A claim sized on small records
 * may still read large ones; the drainer then sends it in several calls of at most this much each (a lone
 * larger record goes alone).
 */
export const BACKLOG_CLAIM_BYTES = 16 * 1024 * 1024;

/**
 * How many entries a delivery loop claims next: `base` while the loop keeps up; while it is behind — a claim
 * came back full, so more was already due — the next claim doubles, up to `max` entries and
 * {@link BACKLOG_CLAIM_BYTES} of record data at the size of the entries just delivered. A claim that comes
 * back short means the loop caught up: back to `base`. A delivery that took longer than the loop's time budget
 * (a quarter of the lease: a slow embedder or vector store must not turn every claim into a long one, its
 * leases renewed all along) halves the next claim, never below `base`. Nothing ever waits for a grown claim to fill: it only takes what is already due
 * (waiting for company is the batch strategy's gather, which counts on `base`).
 */
export class ClaimSize {
  #size: number;

  /**
   * @param base - entries per claim while keeping up (≥ 1).
   * @param max - most entries per claim while behind; below `base` it counts as `base` (no growth).
   * @param budgetMs - longest delivery of one claim that still lets the next one grow, ms.
   */
  constructor(
    private readonly base: number,
    private readonly max: number,
    private readonly budgetMs: number,
  ) {
    this.#size = base;
  }

  /** Entries to claim next. */
  get current(): number {
    return this.#size;
  }

  /** Back to the base size: the loop caught up (an empty claim), or a delivery failed before it was sent. */
  reset(): void {
    this.#size = this.base;
  }

  /**
   * Notes a claim's outcome: `claimed` entries came back from a claim of {@link current}, the records
   * delivered for them held about `bytes` (0 when unknown), and delivering them took `tookMs`.
   */
  settle(claimed: number, bytes: number, tookMs: number): void {
    if (claimed < this.#size) {
      this.#size = this.base;
      return;
    }
    if (tookMs > this.budgetMs) {
      this.#size = Math.max(this.base, Math.floor(this.#size / 2));
      return;
    }
    const perEntry = Math.max(1, bytes / Math.max(1, claimed));
    const fitting = Math.floor(BACKLOG_CLAIM_BYTES / perEntry);
    this.#size = Math.max(this.base, Math.min(2 * this.#size, this.max, fitting));
  }
}
