import type { StrategyContext } from '../contracts/write-strategy.js';
import { ValidationError } from '../errors.js';
import { BACKLOG_CLAIM_SIZE } from '../outbox/claim-size.js';
import type { DrainerOptions } from '../outbox/outbox-drainer.js';
import { describeValue } from '../util/describe-value.js';
import { OutboxStrategy } from './outbox-strategy.js';

/**
 * Most outbox entries one async-queue delivery claims and sends in one vector call when it is behind; while
 * claims keep coming back full, they grow up to `BACKLOG_CLAIM_SIZE` (see `ClaimSize`).
 */
export const ASYNC_QUEUE_MAX_CLAIM = 256;

/** Options of {@link AsyncQueueStrategy}. */
export interface AsyncQueueOptions {
  /**
   * Background delivery loops running at once. Default 4, capped by the vector store's
   * `maxConcurrentWrites` (LanceDB 1, Chroma 2).
   */
  concurrency?: number;
}

/**
 * `async-queue`: a write returns after one SQL transaction (record + outbox entry). Background workers
 * drain the outbox at once, never two changes of one id at once (one outbox entry per id, held under a
 * lease), retrying with exponential backoff and jitter and dead-lettering after `maxAttempts`. Delivery
 * adapts to the backlog without ever waiting: when idle a change is sent alone the moment it commits; when
 * behind, everything already due (up to {@link ASYNC_QUEUE_MAX_CLAIM} entries, distinct ids, growing to
 * `BACKLOG_CLAIM_SIZE` while claims come back full) goes in one vector call, so a backlog shrinks instead of
 * growing. (Waiting to fill a batch is `batch`'s job.)
 *
 * Caller observes: after the call, the record in SQL; after `flush`, the vector too; after a crash,
 * everything acknowledged is in SQL and its outbox entry is delivered after restart.
 */
export class AsyncQueueStrategy extends OutboxStrategy {
  readonly name = 'async-queue';
  private readonly concurrency: number;

  constructor(options: AsyncQueueOptions = {}) {
    super();
    this.concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 256)
      throw new ValidationError('concurrency', `must be an integer, got ${describeValue(this.concurrency)}`, {
        component: 'async-queue',
        limit: '1..256',
      });
  }

  protected drainerOptions(ctx: StrategyContext): DrainerOptions {
    return deliverWhatIsDue(this.concurrency, ctx);
  }
}

/**
 * async-queue's delivery (also sync-2pc's, for its units of work and repairs): everything already due, for
 * distinct ids, in one vector call at once — no waiting to fill a batch — growing while claims come back full.
 */
export function deliverWhatIsDue(concurrency: number, ctx: StrategyContext): DrainerOptions {
  return {
    mode: 'batch',
    concurrency,
    claimSize: Math.min(ASYNC_QUEUE_MAX_CLAIM, ctx.vector.maxBatchSize),
    backlogClaimSize: Math.min(BACKLOG_CLAIM_SIZE, ctx.vector.maxBatchSize),
    maxDelayMs: 0,
  };
}
