import type { DeliveryOptions, StrategyConfig } from '@dualwrite/core';
import type { BackendConfig } from './schema.js';

/**
 * The `createDualWrite({ strategy })` config for the strategy settings (`DUALWRITE_STRATEGY`,
 * `DUALWRITE_BATCH_SIZE`, `DUALWRITE_MAX_DELAY_MS`, `DUALWRITE_CONCURRENCY`, …), so that every process reading
 * one environment runs the strategy it describes: passing only `config.strategy.name` drops every other setting.
 */
export function strategyConfig(s: BackendConfig['strategy']): StrategyConfig {
  switch (s.name) {
    case 'sync-2pc':
      return {
        name: 'sync-2pc',
        onVectorFailure: 'fail',
        repairConcurrency: s.concurrency,
        unitOfWorkTimeoutMs: s.syncTimeoutMs,
      };
    case 'async-queue':
      return { name: 'async-queue', concurrency: s.concurrency };
    default:
      return {
        name: 'batch',
        maxBatchSize: s.batchSize,
        ...(s.backlogBatchSize === undefined ? {} : { backlogBatchSize: s.backlogBatchSize }),
        maxDelayMs: s.maxDelayMs,
        concurrency: s.concurrency,
      };
  }
}

/** The `createDualWrite({ delivery })` options for the strategy settings: attempts, lease (ms), poll interval (ms). */
export function deliveryOptions(
  s: BackendConfig['strategy'],
): Pick<Partial<DeliveryOptions>, 'maxAttempts' | 'leaseMs' | 'pollIntervalMs'> {
  return {
    maxAttempts: s.maxAttempts,
    leaseMs: s.leaseMs,
    ...(s.pollIntervalMs === undefined ? {} : { pollIntervalMs: s.pollIntervalMs }),
  };
}
