/**
 * `createDualWrite` checks its options at the call: a misspelled option is refused (it would be ignored and
 * its default used), and a value out of range is refused before anything starts (a `leaseMs` of 0 would fail
 * every claim of the drain later). Each error names the option's path and its limit.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, type DualWriteOptions, ValidationError } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';
import { nearestKey } from '../src/util/option-keys.js';

const DIM = 8;

function options(extra: Record<string, unknown>): DualWriteOptions {
  return {
    relational: new MemoryRelationalStore(),
    vector: new MemoryVectorStore({ dimension: DIM }),
    strategy: 'async-queue',
    driftCheck: false,
    ...extra,
  } as DualWriteOptions;
}

async function refusal(extra: Record<string, unknown>): Promise<ValidationError> {
  const relational = new MemoryRelationalStore();
  const error = await createDualWrite(options({ relational, ...extra })).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ValidationError);
  // Refused before the store was touched: nothing was initialised or written.
  expect(await relational.countRecords()).toBe(0);
  return error as ValidationError;
}

describe('createDualWrite options', () => {
  const misspelled: [string, Record<string, unknown>, string, string | undefined][] = [
    ['a top-level option', { closeStore: false }, 'options.closeStore', 'closeStores'],
    ['a delivery knob in another case', { delivery: { leaseMS: 5_000 } }, 'delivery.leaseMS', 'leaseMs'],
    ['a backoff knob', { delivery: { backoff: { base_ms: 10 } } }, 'delivery.backoff.base_ms', 'baseMs'],
    ['a limit in snake case', { limits: { max_text_bytes: 10 } }, 'limits.max_text_bytes', 'maxTextBytes'],
    [
      'a backpressure knob',
      { backpressure: { maxDepth: 5, timeoutMs: 10 } },
      'backpressure.timeoutMs',
      undefined,
    ],
    ['a drift-check knob', { driftCheck: { interval: 10 } }, 'driftCheck.interval', undefined],
    [
      "a knob of another strategy (batch's maxDelayMs on async-queue)",
      { strategy: { name: 'async-queue', maxDelayMs: 5 } },
      'strategy.maxDelayMs',
      undefined,
    ],
    [
      'a sync-2pc knob',
      { strategy: { name: 'sync-2pc', onvectorfailure: 'fail' } },
      'strategy.onvectorfailure',
      'onVectorFailure',
    ],
  ];
  it.each(misspelled)('refuses %s, naming it and the key it resembles', async (_what, extra, field, near) => {
    const error = await refusal(extra);
    expect(error.field).toBe(field);
    expect(error.message).toContain('is not an option');
    if (near !== undefined) expect(error.message).toContain(`did you mean "${near}"`);
    expect(error.limit).toMatch(/^one of /);
  });

  const outOfRange: [string, Record<string, unknown>, string][] = [
    ['a zero lease', { delivery: { leaseMs: 0 } }, 'delivery.leaseMs'],
    ['fractional attempts', { delivery: { maxAttempts: 2.5 } }, 'delivery.maxAttempts'],
    ['a poll interval as a string', { delivery: { pollIntervalMs: '200' } }, 'delivery.pollIntervalMs'],
    ['an unknown jitter', { delivery: { backoff: { jitter: 'some' } } }, 'delivery.backoff.jitter'],
    ['a backoff factor below 1', { delivery: { backoff: { factor: 0.5 } } }, 'delivery.backoff.factor'],
    ['a negative text limit', { limits: { maxTextBytes: -1 } }, 'limits.maxTextBytes'],
    ['backpressure without maxDepth', { backpressure: { mode: 'wait' } }, 'backpressure.maxDepth'],
    ['an unknown backpressure mode', { backpressure: { maxDepth: 5, mode: 'block' } }, 'backpressure.mode'],
    ['a sample rate above 1', { driftCheck: { sampleRate: 2 } }, 'driftCheck.sampleRate'],
    ['a sweep page that is not a whole number', { driftCheck: { sweepPage: 2.5 } }, 'driftCheck.sweepPage'],
    ['a sweep page above 10,000', { driftCheck: { sweepPage: 10_001 } }, 'driftCheck.sweepPage'],
    ['an unknown stale-hit policy', { staleHits: 'keep' }, 'options.staleHits'],
    ['a non-boolean deliver', { deliver: 'no' }, 'options.deliver'],
    ['a delivery that is not an object', { delivery: 30_000 }, 'delivery'],
    ['a missing vector store', { vector: undefined }, 'options.vector'],
    [
      'an unknown sync-2pc failure mode',
      { strategy: { name: 'sync-2pc', onVectorFailure: 'retry' } },
      'strategy.onVectorFailure',
    ],
    ['a batch size of zero', { strategy: { name: 'batch', maxBatchSize: 0 } }, 'strategy.maxBatchSize'],
    [
      'a fractional concurrency',
      { strategy: { name: 'async-queue', concurrency: 1.5 } },
      'strategy.concurrency',
    ],
    ['a strategy that is neither name nor object', { strategy: 42 }, 'strategy'],
    // A clock without sleep() passed, and the first idle drain loop threw outside any call, ending the process.
    ['a clock without sleep()', { clock: { now: () => Date.now() } }, 'options.clock.sleep'],
    ['a clock that is a function', { clock: () => Date.now() }, 'options.clock'],
    [
      'a clock reading a string',
      { clock: { now: () => '1700000000000', sleep: async () => {} } },
      'options.clock.now',
    ],
    ['a clock reading NaN', { clock: { now: () => Number.NaN, sleep: async () => {} } }, 'options.clock.now'],
  ];
  it.each(outOfRange)('refuses %s, naming the option', async (_what, extra, field) => {
    expect((await refusal(extra)).field).toBe(field);
  });

  it('accepts every option spelled right, and unknown keys left undefined', async () => {
    const dw = await createDualWrite(
      options({
        strategy: { name: 'batch', maxBatchSize: 10, maxDelayMs: 5, concurrency: 1 },
        limits: { maxTextBytes: 1_000, maxBatchRecords: 50 },
        delivery: {
          owner: 'me',
          leaseMs: 1_000,
          maxAttempts: 3,
          backoff: { baseMs: 10, maxMs: 100, factor: 2, jitter: 'none' },
          pollIntervalMs: 50,
          maxIdlePollMs: 100,
          outageProbeMs: 10,
          maxOutageProbeMs: 100,
          intentTtlMs: 1_000,
          recoveryIntervalMs: 1_000,
          random: Math.random,
        },
        backpressure: { maxDepth: 100, mode: 'wait', waitTimeoutMs: 10, depthCacheMs: 5 },
        staleHits: 'flag',
        closeStores: true,
        indexBinding: 'verify',
        driftCheck: { intervalMs: 60_000, sampleRate: 0 },
        deliver: true,
        yieldEveryMs: 0,
        spreadFromElsewhere: undefined,
      }),
    );
    try {
      await dw.put({ id: 'a', text: 'hello', embedding: Array.from({ length: DIM }, (_, i) => i + 1) });
      await dw.flush();
      expect((await dw.syncStatus('a')).state).toBe('synced');
      // The limit set above is the one enforced.
      await expect(dw.put({ id: 'b', text: 'x'.repeat(1_001) })).rejects.toMatchObject({
        field: 'record.text',
      });
    } finally {
      await dw.close();
    }
  });
});

describe('nearestKey', () => {
  it("suggests another library's name for an option, and the one name an abbreviation stands for", () => {
    const lance = ['uri', 'table', 'dimension', 'maxBatchSize', 'refreshTableEvery'];
    expect(nearestKey('dim', lance)).toBe('dimension');
    expect(nearestKey('dimen', lance)).toBe('dimension');
    expect(nearestKey('metric', ['url', 'collection', 'distance'])).toBe('distance');
    expect(nearestKey('space', ['url', 'collection', 'distance'])).toBe('distance');
    expect(nearestKey('max', ['maxDepth', 'maxAttempts']), 'an ambiguous abbreviation').toBeUndefined();
    expect(nearestKey('di', lance), 'too short to be an abbreviation').toBeUndefined();
  });
});
