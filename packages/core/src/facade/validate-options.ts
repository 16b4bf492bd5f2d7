import { ValidationError } from '../errors.js';
import type { DriftCheckOptions } from '../integrity/index-guard.js';
import type { DeliveryOptions } from '../outbox/delivery-options.js';
import type { RecordLimits } from '../record/limits.js';
import type { BackoffOptions } from '../util/backoff.js';
import { MAX_TIMER_MS } from '../util/clock.js';
import { describeValue } from '../util/describe-value.js';
import { type OptionKeys, refuseUnknownKeys } from '../util/option-keys.js';
import type { BackpressureOptions, DualWriteOptions } from './dualwrite-options.js';
import type { StaleHitPolicy } from './search.js';

const TOP_KEYS: OptionKeys<DualWriteOptions> = {
  relational: true,
  vector: true,
  strategy: true,
  embedder: true,
  embeddingCacheTtlMs: true,
  clock: true,
  limits: true,
  delivery: true,
  backpressure: true,
  staleHits: true,
  closeStores: true,
  indexBinding: true,
  driftCheck: true,
  deliver: true,
  yieldEveryMs: true,
};

const DELIVERY_KEYS: OptionKeys<DeliveryOptions> = {
  owner: true,
  leaseMs: true,
  maxAttempts: true,
  backoff: true,
  pollIntervalMs: true,
  maxIdlePollMs: true,
  outageProbeMs: true,
  maxOutageProbeMs: true,
  intentTtlMs: true,
  recoveryIntervalMs: true,
  random: true,
};

const BACKOFF_KEYS: OptionKeys<BackoffOptions> = { baseMs: true, maxMs: true, factor: true, jitter: true };

const BACKPRESSURE_KEYS: OptionKeys<BackpressureOptions> = {
  maxDepth: true,
  mode: true,
  waitTimeoutMs: true,
  depthCacheMs: true,
};

const DRIFT_CHECK_KEYS: OptionKeys<DriftCheckOptions> = {
  intervalMs: true,
  sampleRate: true,
  sweepPage: true,
};

const LIMIT_KEYS: OptionKeys<RecordLimits> = {
  maxIdLength: true,
  maxTextBytes: true,
  maxMetadataKeys: true,
  maxMetadataKeyLength: true,
  maxMetadataBytes: true,
  maxBatchRecords: true,
};

/** The values of a `staleHits` option (see `StaleHitPolicy`). */
export const STALE_HIT_POLICIES: readonly StaleHitPolicy[] = ['drop', 'flag'];

/** An object (not null, not an array) when given. */
function section(value: unknown, field: string): value is Record<string, unknown> {
  if (value === undefined) return false;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ValidationError(field, `must be an object, got ${describeValue(value)}`);
  return true;
}

/** A number in `min..max` (an integer when `integer`), when given. */
function number(value: unknown, field: string, min: number, max: number, integer: boolean): void {
  if (value === undefined) return;
  if (
    typeof value !== 'number' ||
    !(integer ? Number.isInteger(value) : Number.isFinite(value)) ||
    value < min ||
    value > max
  )
    throw new ValidationError(
      field,
      `must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${describeValue(value)}`,
      {
        limit: `${min}..${max}`,
      },
    );
}

/**
 * One of `allowed`, when given.
 * @throws {ValidationError} naming `field`, with the allowed values as its limit.
 */
export function oneOf(value: unknown, field: string, allowed: readonly unknown[]): void {
  if (value !== undefined && !allowed.includes(value))
    throw new ValidationError(field, `is ${describeValue(value)}`, {
      limit: allowed.map(describeValue).join(' | '),
    });
}

function boolean(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'boolean')
    throw new ValidationError(field, `must be a boolean, got ${describeValue(value)}`);
}

function validateDelivery(delivery: Record<string, unknown>): void {
  refuseUnknownKeys(delivery, DELIVERY_KEYS, 'delivery');
  if (delivery.owner !== undefined && (typeof delivery.owner !== 'string' || delivery.owner === ''))
    throw new ValidationError('delivery.owner', 'must be a non-empty string');
  number(delivery.leaseMs, 'delivery.leaseMs', 1, MAX_TIMER_MS, true);
  number(delivery.maxAttempts, 'delivery.maxAttempts', 1, 1_000_000, true);
  for (const key of [
    'pollIntervalMs',
    'maxIdlePollMs',
    'outageProbeMs',
    'maxOutageProbeMs',
    'intentTtlMs',
    'recoveryIntervalMs',
  ] as const)
    number(delivery[key], `delivery.${key}`, 1, MAX_TIMER_MS, false);
  if (delivery.random !== undefined && typeof delivery.random !== 'function')
    throw new ValidationError('delivery.random', 'must be a function returning a number in [0, 1)');
  if (section(delivery.backoff, 'delivery.backoff')) {
    const backoff = delivery.backoff;
    refuseUnknownKeys(backoff, BACKOFF_KEYS, 'delivery.backoff');
    number(backoff.baseMs, 'delivery.backoff.baseMs', 0, MAX_TIMER_MS, false);
    number(backoff.maxMs, 'delivery.backoff.maxMs', 0, MAX_TIMER_MS, false);
    number(backoff.factor, 'delivery.backoff.factor', 1, 1_000, false);
    oneOf(backoff.jitter, 'delivery.backoff.jitter', ['full', 'equal', 'none']);
  }
}

/** Members dualwrite calls on every store of each kind (optional capabilities are probed where used). */
const STORE_MEMBERS = {
  relational: {
    type: 'RelationalStore',
    methods: [
      'init',
      'transaction',
      'getRecords',
      'listVersions',
      'claimOutbox',
      'ackOutbox',
      'failOutbox',
      'renewOutbox',
      'releaseOutbox',
      'listDeadLetters',
      'requeueDeadLetters',
      'outboxStats',
      'currentVersion',
      'getMeta',
      'setMeta',
      'close',
    ],
    counts: [],
  },
  vector: {
    type: 'VectorStore',
    methods: ['upsert', 'delete', 'query', 'getVersions', 'listIds', 'count', 'ping', 'close'],
    counts: ['dimension', 'maxBatchSize'],
  },
} as const;

/**
 * Checks that `options.relational` / `options.vector` is a store, not what was meant to make one: a promise
 * (an `open()` not awaited), an options object, a class. Without this a wrong value was accepted and failed
 * later, far from the mistake (writes stalling with "invalid limit NaN", a TypeError while cleaning up).
 */
function validateStore(value: unknown, kind: keyof typeof STORE_MEMBERS): void {
  const { type, methods, counts } = STORE_MEMBERS[kind];
  const field = `options.${kind}`;
  if (value === undefined || value === null) throw new ValidationError(field, `is required (a ${type})`);
  if (typeof (value as { then?: unknown }).then === 'function')
    throw new ValidationError(field, `is a Promise, not a ${type}: await the store (its open()) first`);
  if (typeof value === 'function')
    throw new ValidationError(field, `is ${describeValue(value)}, not a ${type} instance`);
  if (typeof value !== 'object')
    throw new ValidationError(field, `must be a ${type} instance, got ${describeValue(value)}`);
  const store = value as Record<string, unknown>;
  const missing = methods.filter((m) => typeof store[m] !== 'function');
  if (missing.length > 0)
    throw new ValidationError(
      field,
      `is not a ${type}: it has no ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''} method` +
        ' (pass the store, not its options)',
    );
  for (const count of counts)
    if (!Number.isInteger(store[count]) || (store[count] as number) < 1)
      throw new ValidationError(
        `${field}.${count}`,
        `must be a positive integer, got ${describeValue(store[count])}`,
        {
          limit: '>= 1',
        },
      );
}

/**
 * Checks {@link DualWriteOptions} at `createDualWrite`, so a mistake surfaces at the call instead of as a
 * setting silently ignored (a misspelled key: its default applies) or a failure much later (`leaseMs: 0`
 * would fail every claim of the drain). Checks the shape of every option section, the range of every number,
 * and that `relational` and `vector` are stores (every member the facade calls; not a Promise, an options
 * object or a class); the stores, the strategy and the embedder check their own options.
 * @throws {ValidationError} naming the option's path (`delivery.leaseMs`, `limits.maxTextBytes`,
 *   `options.relational`, …) and its limit.
 */
export function validateDualWriteOptions(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new ValidationError('options', `must be an object, got ${describeValue(options)}`);
  const o = options as Record<string, unknown>;
  refuseUnknownKeys(o, TOP_KEYS, 'options');
  validateStore(o.relational, 'relational');
  validateStore(o.vector, 'vector');
  if (o.strategy === undefined)
    throw new ValidationError('options.strategy', 'is required', {
      limit: "'sync-2pc' | 'async-queue' | 'batch'",
    });
  if (section(o.delivery, 'delivery')) validateDelivery(o.delivery);
  if (section(o.backpressure, 'backpressure')) {
    const bp = o.backpressure;
    refuseUnknownKeys(bp, BACKPRESSURE_KEYS, 'backpressure');
    if (bp.maxDepth === undefined) throw new ValidationError('backpressure.maxDepth', 'is required');
    number(bp.maxDepth, 'backpressure.maxDepth', 1, Number.MAX_SAFE_INTEGER, true);
    oneOf(bp.mode, 'backpressure.mode', ['fail', 'wait']);
    number(bp.waitTimeoutMs, 'backpressure.waitTimeoutMs', 0, MAX_TIMER_MS, false);
    number(bp.depthCacheMs, 'backpressure.depthCacheMs', 0, MAX_TIMER_MS, false);
  }
  if (o.driftCheck !== false && section(o.driftCheck, 'driftCheck')) {
    const drift = o.driftCheck;
    refuseUnknownKeys(drift, DRIFT_CHECK_KEYS, 'driftCheck');
    number(drift.intervalMs, 'driftCheck.intervalMs', 1, MAX_TIMER_MS, false);
    number(drift.sampleRate, 'driftCheck.sampleRate', 0, 1, false);
    number(drift.sweepPage, 'driftCheck.sweepPage', 0, 10_000, true);
  }
  if (section(o.limits, 'limits')) {
    const limits = o.limits;
    refuseUnknownKeys(limits, LIMIT_KEYS, 'limits');
    for (const key of Object.keys(LIMIT_KEYS))
      number(limits[key], `limits.${key}`, 1, Number.MAX_SAFE_INTEGER, true);
  }
  oneOf(o.staleHits, 'options.staleHits', STALE_HIT_POLICIES);
  oneOf(o.indexBinding, 'options.indexBinding', ['verify', 'rebind']);
  boolean(o.closeStores, 'options.closeStores');
  boolean(o.deliver, 'options.deliver');
  number(o.yieldEveryMs, 'options.yieldEveryMs', 0, MAX_TIMER_MS, false);
  number(o.embeddingCacheTtlMs, 'options.embeddingCacheTtlMs', 0, Number.MAX_SAFE_INTEGER, true);
  validateClock(o.clock);
}

/**
 * A caller's clock: an object with `now()` and `sleep()`, whose `now()` reads Unix ms (read once here; its
 * fractions are dropped where the facade reads it, see `wholeMsClock`). Before, a clock without `sleep` passed
 * and the first idle drain loop threw outside any call, ending the process.
 * @throws {ValidationError} on `options.clock`, `options.clock.now` or `options.clock.sleep`.
 */
function validateClock(clock: unknown): void {
  if (!section(clock, 'options.clock')) return;
  for (const method of ['now', 'sleep'])
    if (typeof clock[method] !== 'function')
      throw new ValidationError(
        `options.clock.${method}`,
        `must be a function, got ${describeValue(clock[method])}`,
      );
  const now: unknown = (clock as { now(): unknown }).now();
  if (typeof now !== 'number' || !(now >= 0 && now <= Number.MAX_SAFE_INTEGER))
    throw new ValidationError('options.clock.now', `must return Unix ms, returned ${describeValue(now)}`, {
      limit: `a number 0..${Number.MAX_SAFE_INTEGER}`,
    });
}
