import type { StrategyContext } from '../contracts/write-strategy.js';
import { ValidationError } from '../errors.js';
import type { DrainerOptions } from '../outbox/outbox-drainer.js';
import { OutboxStrategy } from './outbox-strategy.js';

/** Options of {@link AsyncQueueStrategy}. */
export interface AsyncQueueOptions {
  /** Background deliveries running at once (one vector call each). Default 4. */
  concurrency?: number;
}

/**
 * `async-queue`: a write returns after one SQL transaction (record + outbox entry). Background workers
 * drain the outbox with one vector call per change, never two changes of one id at once (one outbox entry
 * per id, held under a lease), retrying with exponential backoff and jitter and dead-lettering after
 * `maxAttempts`.
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
      throw new ValidationError('concurrency', `must be an integer, got ${String(this.concurrency)}`, {
        component: 'async-queue',
        limit: '1..256',
      });
  }

  protected drainerOptions(_ctx: StrategyContext): DrainerOptions {
    return { mode: 'single', concurrency: this.concurrency, claimSize: 1, maxDelayMs: 0 };
  }
}
