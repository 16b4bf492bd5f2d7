import type { StrategyName, WriteStrategy } from '../contracts/write-strategy.js';
import { ValidationError } from '../errors.js';
import { describeValue } from '../util/describe-value.js';
import { type OptionKeys, refuseUnknownKeys } from '../util/option-keys.js';
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

/** The knobs of each built-in strategy, `name` included. */
const STRATEGY_KEYS = {
  'sync-2pc': {
    name: true,
    onVectorFailure: true,
    repairConcurrency: true,
    unitOfWorkTimeoutMs: true,
  } satisfies OptionKeys<{ name: string } & Sync2pcOptions>,
  'async-queue': { name: true, concurrency: true } satisfies OptionKeys<{ name: string } & AsyncQueueOptions>,
  batch: {
    name: true,
    maxBatchSize: true,
    backlogBatchSize: true,
    maxDelayMs: true,
    concurrency: true,
  } satisfies OptionKeys<{ name: string } & BatchOptions>,
};

/**
 * Builds the strategy a config names.
 * @throws {ValidationError} naming `strategy` for an unknown name or a config that is neither a name nor an
 *   object, `strategy.<key>` for a knob the named strategy does not have (e.g. `maxDelayMs` on
 *   async-queue) and for a knob's invalid value (`strategy.maxBatchSize`; a strategy constructed directly
 *   names the knob alone).
 */
export function createStrategy(config: StrategyConfig): WriteStrategy {
  if (config !== null && typeof config === 'object' && 'start' in config) return config;
  if (typeof config !== 'string' && (config === null || typeof config !== 'object'))
    throw new ValidationError(
      'strategy',
      `must be a strategy name or { name, ...knobs }, got ${describeValue(config)}`,
      {
        limit: STRATEGY_NAMES.join(' | '),
      },
    );
  const named = (typeof config === 'string' ? { name: config } : config) as Exclude<
    StrategyConfig,
    StrategyName | WriteStrategy
  >;
  const { name } = named;
  if (Object.hasOwn(STRATEGY_KEYS, name))
    refuseUnknownKeys(named, STRATEGY_KEYS[name as StrategyName], 'strategy', name);
  try {
    switch (named.name) {
      case 'sync-2pc':
        return new Sync2pcStrategy(named);
      case 'async-queue':
        return new AsyncQueueStrategy(named);
      case 'batch':
        return new BatchStrategy(named);
    }
  } catch (error) {
    throw error instanceof ValidationError ? error.within('strategy') : error;
  }
  throw new ValidationError('strategy', `unknown strategy ${JSON.stringify(name)}`, {
    limit: STRATEGY_NAMES.join(' | '),
  });
}
