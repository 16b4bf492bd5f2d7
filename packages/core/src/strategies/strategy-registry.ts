import type { StrategyName, WriteStrategy } from '../contracts/write-strategy.js';
import { ValidationError } from '../errors.js';
import { type AsyncQueueOptions, AsyncQueueStrategy } from './async-queue-strategy.js';
import { type BatchOptions, BatchStrategy } from './batch-strategy.js';
import { type Sync2pcOptions, Sync2pcStrategy } from './sync-2pc-strategy.js';

/**
 * One line of config: a strategy name, a name with its knobs, or a custom {@link WriteStrategy}.
 *
 * @example `'batch'`, `{ name: 'batch', maxBatchSize: 500, maxDelayMs: 20 }`, `{ name: 'sync-2pc', onVectorFailure: 'defer-to-outbox' }`
 */
export type StrategyConfig =
  | StrategyName
  | ({ name: 'sync-2pc' } & Sync2pcOptions)
  | ({ name: 'async-queue' } & AsyncQueueOptions)
  | ({ name: 'batch' } & BatchOptions)
  | WriteStrategy;

/** The built-in strategy names. */
export const STRATEGY_NAMES: readonly StrategyName[] = ['sync-2pc', 'async-queue', 'batch'];

/**
 * Builds the strategy a config names.
 * @throws {ValidationError} naming `strategy` for an unknown name.
 */
export function createStrategy(config: StrategyConfig): WriteStrategy {
  if (typeof config === 'object' && 'start' in config) return config;
  const named = (typeof config === 'string' ? { name: config } : config) as Exclude<
    StrategyConfig,
    StrategyName | WriteStrategy
  >;
  const { name } = named;
  switch (named.name) {
    case 'sync-2pc':
      return new Sync2pcStrategy(named);
    case 'async-queue':
      return new AsyncQueueStrategy(named);
    case 'batch':
      return new BatchStrategy(named);
    default:
      throw new ValidationError('strategy', `unknown strategy ${JSON.stringify(name)}`, {
        limit: STRATEGY_NAMES.join(' | '),
      });
  }
}
