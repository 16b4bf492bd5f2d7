import type { StrategyContext } from '../contracts/write-strategy.js';
import { ValidationError } from '../errors.js';
import { BACKLOG_CLAIM_SIZE } from '../outbox/claim-size.js';
import type { DrainerOptions } from '../outbox/outbox-drainer.js';
import { describeValue } from '../util/describe-value.js';
import { OutboxStrategy } from './outbox-strategy.js';

/** Options of {@link BatchStrategy}. */
export interface BatchOptions {
  /**
   * Changes per bulk vector call while delivery keeps up — the batch the drainer waits (at most `maxDelayMs`)
   * to fill; capped by the vector store's own `maxBatchSize`. Default 100.
   */
  maxBatchSize?: number;
  /**
   * Most changes per bulk vector call while delivery is behind (a backlog after an outage, a bulk load, a
   * restart): each claim that comes back full doubles the next, up to this many and about 16 MiB of record
   * data (`BACKLOG_CLAIM_BYTES`), capped by the vector store's `maxBatchSize`; a short claim returns to
   * `maxBatchSize`. Nothing waits for these larger batches to fill: they hold only changes already due.
   * Default `max(maxBatchSize, 1000)` (`BACKLOG_CLAIM_SIZE`, measured there); set it to `maxBatchSize` to
   * keep every call at that size.
   */
  backlogBatchSize?: number;
  /**
   * Longest wait for a batch to fill before sending a partial one, ms. Default 50. The drainer waits only
   * while changes keep arriving at least two per `maxDelayMs` (measured), so a trickle is sent at once.
   */
  maxDelayMs?: number;
  /** Batches in flight at once. Default 1. */
  concurrency?: number;
}

/**
 * `batch`: like `async-queue`, but the drainer coalesces due entries into bulk vector calls: it sends when
 * `maxBatchSize` entries are due, `maxDelayMs` after the first one, or as soon as arrivals stop (nothing
 * new for twice the measured mean gap between arrivals) — and does not wait at all when fewer than two more
 * changes are expected within `maxDelayMs`. Several changes of one id collapse
 * into its latest state (the outbox keeps one entry per id). While delivery is behind, calls grow up to
 * `backlogBatchSize` (a backlog drains in fewer, larger calls). A failing batch is split in halves until the
 * poison entry is isolated, so one bad record never blocks the others.
 */
export class BatchStrategy extends OutboxStrategy {
  readonly name = 'batch';
  private readonly maxBatchSize: number;
  private readonly backlogBatchSize: number;
  private readonly maxDelayMs: number;
  private readonly concurrency: number;

  constructor(options: BatchOptions = {}) {
    super();
    this.maxBatchSize = options.maxBatchSize ?? 100;
    this.backlogBatchSize = options.backlogBatchSize ?? Math.max(this.maxBatchSize, BACKLOG_CLAIM_SIZE);
    this.maxDelayMs = options.maxDelayMs ?? 50;
    this.concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1)
      throw new ValidationError(
        'maxBatchSize',
        `must be a positive integer, got ${describeValue(this.maxBatchSize)}`,
        {
          component: 'batch',
          limit: 'integer >= 1',
        },
      );
    if (!Number.isInteger(this.backlogBatchSize) || !(this.backlogBatchSize >= this.maxBatchSize))
      throw new ValidationError(
        'backlogBatchSize',
        `must be an integer >= maxBatchSize (${describeValue(this.maxBatchSize)}), got ${describeValue(this.backlogBatchSize)}`,
        { component: 'batch', limit: `integer >= maxBatchSize` },
      );
    if (!(this.maxDelayMs >= 0))
      throw new ValidationError('maxDelayMs', `must be >= 0 ms, got ${describeValue(this.maxDelayMs)}`, {
        component: 'batch',
        limit: '>= 0 ms',
      });
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 64)
      throw new ValidationError('concurrency', `must be an integer, got ${describeValue(this.concurrency)}`, {
        component: 'batch',
        limit: '1..64',
      });
  }

  protected drainerOptions(ctx: StrategyContext): DrainerOptions {
    return {
      mode: 'batch',
      concurrency: this.concurrency,
      claimSize: Math.min(this.maxBatchSize, ctx.vector.maxBatchSize),
      backlogClaimSize: Math.min(this.backlogBatchSize, ctx.vector.maxBatchSize),
      maxDelayMs: this.maxDelayMs,
    };
  }
}
