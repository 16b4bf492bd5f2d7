import { describe, expect, it } from 'vitest';
import { describeFault, findMeasurementFaults } from '../src/report/measurement-faults.js';
import { computeRatios, type RepeatRun, ratioGroups } from '../src/report/ratios.js';
import { checkDrainTargets, checkTargets } from '../src/report/targets.js';
import { type DrainScalingResult, heldSnapshotRatio } from '../src/runs/drain-scaling.js';
import type { RunName, RunResult } from '../src/runs/types.js';

function run(name: RunName, vector: string, p50: number, extra: Partial<RunResult> = {}): RunResult {
  return {
    name,
    kind: ['sync-2pc', 'async-queue', 'batch'].includes(name) ? 'strategy' : 'baseline',
    vector,
    relational: 'sqlite',
    records: 100,
    batchSize: 10,
    callerLatencyMs: { p50, p95: p50, p99: p50 },
    callerThroughput: 1,
    timeToConsistencyMs: 1000,
    endToEndThroughput: 100,
    vectorCalls: 100,
    retries: 0,
    peakRssMb: 1,
    lost: 0,
    orphans: 0,
    ...extra,
  };
}

/** One repeat; every time scales with `scale` (drift), async-queue's p50 is `asyncFactor` × sqlite-only's. */
function repeat(k: number, scale: number, asyncFactor = 1.5): RepeatRun[] {
  return [
    run('sqlite-only', 'none', 1 * scale),
    run('raw-outbox-tx', 'none', 1.05 * scale, { timeToConsistencyMs: 150 * scale }),
    run('sync-2pc', 'lancedb', 12 * scale, { timeToConsistencyMs: 5000 * scale, vectorCalls: 100 }),
    run('async-queue', 'lancedb', asyncFactor * scale),
    run('batch', 'lancedb', 1.1 * scale, {
      timeToConsistencyMs: 500 * scale,
      vectorCalls: 10,
      endToEndThroughput: 90,
    }),
    run('vector-raw-single', 'lancedb', 10 * scale),
    run('vector-raw-bulk', 'lancedb', 50 * scale, {
      endToEndThroughput: 100,
      timeToConsistencyMs: 250 * scale,
    }),
  ].map((result) => ({ repeat: k, result }));
}

describe('computeRatios', () => {
  it('pairs runs of one repeat, shares sqlite-only across backends, and takes the median over repeats', () => {
    // Per-repeat async ratios 1.5, 3, 1.2 -> median 1.5 (a ratio of medians would mix repeats: 3/2).
    const runs = [...repeat(1, 1, 1.5), ...repeat(2, 2, 3), ...repeat(3, 100, 1.2)];
    const ratios = computeRatios(runs, ['lancedb']);
    expect(ratios.lancedb).toEqual({
      asyncCallerP50VsSqliteOnly: 1.5,
      batchThroughputVsRawBulk: 0.9,
      sync2pcP50VsRawSum: 1.0909, // 12 / 11, rounded to 4 decimals
      batchVsSync2pcTimeToConsistency: 10,
      batchVectorCallsVsSync2pc: 0.1,
      batchCallerP50VsSqliteOnly: 1.1,
      asyncCallerP50VsRawOutboxTx: 1.4286, // 1.5 / 1.05 in the median repeat
      batchCallerP50VsRawOutboxTx: 1.0476,
      batchTimeVsRawOutboxTxPlusBulk: 1.25, // 500 / (150 + 250)
      asyncVsSync2pcTimeToConsistency: 10, // per repeat 5000 / 1000, 10000 / 1000, 500000 / 1000
    });
  });

  it('gives null when an input run is missing', () => {
    const runs = repeat(1, 1).filter((r) => r.result.name !== 'vector-raw-bulk');
    const ratios = computeRatios(runs, ['lancedb', 'chroma']);
    expect(ratios.lancedb!.batchThroughputVsRawBulk).toBeNull();
    expect(ratios.chroma).toEqual({
      asyncCallerP50VsSqliteOnly: null,
      batchThroughputVsRawBulk: null,
      sync2pcP50VsRawSum: null,
      batchVsSync2pcTimeToConsistency: null,
      batchVectorCallsVsSync2pc: null,
      batchCallerP50VsSqliteOnly: null,
      asyncCallerP50VsRawOutboxTx: null,
      batchCallerP50VsRawOutboxTx: null,
      batchTimeVsRawOutboxTxPlusBulk: null,
      asyncVsSync2pcTimeToConsistency: null,
    });
  });
});

describe('computeRatios with several relational backends', () => {
  /** The repeat-1 runs on SQLite plus a PostgreSQL set 4× slower on the relational side. */
  function twoRelational(): RepeatRun[] {
    const pgRuns: RunResult[] = [
      run('postgres-only', 'none', 4, { relational: 'postgres' }),
      run('raw-outbox-tx', 'none', 5, { relational: 'postgres', timeToConsistencyMs: 600 }),
      run('sync-2pc', 'lancedb', 20, { relational: 'postgres', timeToConsistencyMs: 6000, vectorCalls: 100 }),
      run('async-queue', 'lancedb', 6, { relational: 'postgres' }),
      run('batch', 'lancedb', 8, {
        relational: 'postgres',
        timeToConsistencyMs: 1000,
        vectorCalls: 20,
        endToEndThroughput: 50,
      }),
    ];
    return [...repeat(1, 1), ...pgRuns.map((result) => ({ repeat: 1, result }))];
  }

  it('keys SQLite groups by vector backend and others "<vector>+<relational>", same fields', () => {
    const groups = ratioGroups(['lancedb'], ['sqlite', 'postgres']);
    expect(groups.map((g) => g.key)).toEqual(['lancedb', 'lancedb+postgres']);
    const ratios = computeRatios(twoRelational(), groups);
    expect(ratios.lancedb).toEqual(computeRatios(repeat(1, 1), ['lancedb']).lancedb);
    // postgres-only is the denominator of the +postgres group; vector-raw-* are shared.
    expect(ratios['lancedb+postgres']).toEqual({
      asyncCallerP50VsSqliteOnly: 1.5, // 6 / 4
      batchThroughputVsRawBulk: 0.5, // 50 / 100
      sync2pcP50VsRawSum: 1.4286, // 20 / (10 + 4)
      batchVsSync2pcTimeToConsistency: 6,
      batchVectorCallsVsSync2pc: 0.2,
      batchCallerP50VsSqliteOnly: 2, // 8 / 4
      asyncCallerP50VsRawOutboxTx: 1.2, // 6 / 5: PostgreSQL's raw-outbox-tx, not SQLite's
      batchCallerP50VsRawOutboxTx: 1.6,
      batchTimeVsRawOutboxTxPlusBulk: 1.1765, // 1000 / (600 + 250)
      asyncVsSync2pcTimeToConsistency: 6,
    });
  });

  it('names the relational-only baseline of the group in the targets', () => {
    const checks = checkTargets(twoRelational(), ratioGroups(['lancedb'], ['sqlite', 'postgres']));
    const pgTargets = checks.filter((c) => c.vector === 'lancedb+postgres').map((c) => c.target);
    expect(pgTargets).toContain('async-queue caller p50 ≤ 1.3 × postgres-only p50');
    expect(pgTargets).toContain('sync-2pc p50 ≤ 1.1 × (vector-raw-single p50 + postgres-only p50)');
    expect(pgTargets.join('\n')).not.toContain('sqlite-only');
    const sqliteTargets = checks.filter((c) => c.vector === 'lancedb').map((c) => c.target);
    // On SQLite one autocommit INSERT is information, not a target: the floor is raw-outbox-tx.
    expect(sqliteTargets.join('\n')).not.toContain('caller p50 ≤ 1.3 × sqlite-only');
    expect(sqliteTargets).toContain('sync-2pc p50 ≤ 1.05 × (vector-raw-single p50 + sqlite-only p50)');
  });
});

describe('checkTargets', () => {
  it('marks each target met / missed / n/a', () => {
    const checks = checkTargets(repeat(1, 1), ['lancedb']);
    const status = Object.fromEntries(checks.map((c) => [c.target, c.status]));
    expect(status).toEqual({
      'async-queue caller p50 ≤ 1.3 × raw-outbox-tx p50': 'missed', // 1.5 / 1.05
      'batch caller p50 ≤ 1.3 × raw-outbox-tx p50': 'met',
      'batch end-to-end throughput ≥ 0.9 × vector-raw-bulk': 'met',
      'batch time to consistency ≤ 1.25 × (raw-outbox-tx puts + vector-raw-bulk ingest)': 'met',
      'sync-2pc p50 ≤ 1.05 × (vector-raw-single p50 + sqlite-only p50)': 'missed',
      'batch reaches consistency ≥ 5× sooner than sync-2pc': 'met',
      'async-queue reaches consistency ≥ 5× sooner than sync-2pc': 'met',
      'batch makes ≥ 90% fewer vector calls than sync-2pc': 'met',
    });
    const fastAsync = checkTargets(repeat(1, 1, 1.3), ['lancedb']);
    expect(fastAsync.find((c) => c.target.startsWith('async-queue caller'))!.status).toBe('met'); // 1.24
    expect(checkTargets([], ['lancedb']).every((c) => c.status === 'n/a')).toBe(true);
  });
});

describe('checkDrainTargets (--drain-held-snapshot)', () => {
  function drain(workers: number, extra: Partial<DrainScalingResult> = {}): DrainScalingResult {
    return {
      relational: 'postgres',
      vector: 'lancedb',
      strategy: 'batch',
      workers,
      records: 10_000,
      batchSize: 100,
      writeMs: 1,
      startupMs: 1,
      drainMs: 5_000,
      throughput: 2_000,
      speedup: null,
      perWorker: [10_000],
      vectorCalls: 100,
      retries: 0,
      lost: 0,
      orphans: 0,
      ...extra,
    };
  }

  it('holds the held-snapshot throughput to ≥ 0.65 × the plain one, per K; nothing without the measurement', () => {
    expect(heldSnapshotRatio(2_000, 1_300)).toBe(0.65);
    expect(heldSnapshotRatio(2_000, 1_000)).toBe(0.5);
    expect(heldSnapshotRatio(0, 1_000)).toBe(0);
    const checks = checkDrainTargets([
      drain(1, { heldSnapshotThroughput: 1_300, heldSnapshotRatio: 0.65 }),
      drain(2, { heldSnapshotThroughput: 1_000, heldSnapshotRatio: 0.5 }),
      drain(4),
    ]);
    expect(checks).toEqual([
      {
        vector: 'lancedb+postgres',
        target: 'drain throughput with a held REPEATABLE READ ≥ 0.65 × without (1 worker, 10000 records)',
        measured: 0.65,
        bound: '>= 0.65',
        status: 'met',
      },
      {
        vector: 'lancedb+postgres',
        target: 'drain throughput with a held REPEATABLE READ ≥ 0.65 × without (2 workers, 10000 records)',
        measured: 0.5,
        bound: '>= 0.65',
        status: 'missed',
      },
    ]);
  });
});

describe('findMeasurementFaults', () => {
  it('flags a baseline faster than a run doing strictly more work, and nothing in an honest run', () => {
    expect(findMeasurementFaults(repeat(1, 1), ['lancedb'])).toEqual([]);
    // sync-2pc (12) below vector-raw-single (14): the baseline measures something else.
    const runs = repeat(1, 1).map((r) =>
      r.result.name === 'vector-raw-single'
        ? { ...r, result: { ...r.result, callerLatencyMs: { p50: 14, p95: 14, p99: 14 } } }
        : r,
    );
    // Within the noise (12 against 12.3: 0.976) is not a fault.
    const close = repeat(1, 1).map((r) =>
      r.result.name === 'vector-raw-single'
        ? { ...r, result: { ...r.result, callerLatencyMs: { p50: 12.3, p95: 12.3, p99: 12.3 } } }
        : r,
    );
    expect(findMeasurementFaults(close, ['lancedb'])).toEqual([]);
    const faults = findMeasurementFaults(runs, ['lancedb']);
    expect(faults).toEqual([
      { group: 'lancedb', more: 'sync-2pc', less: 'vector-raw-single', ratio: 0.8571 },
    ]);
    expect(describeFault(faults[0]!)).toContain('MEASUREMENT FAULT');
  });

  it('compares raw-outbox-tx with its own relational backend only', () => {
    const groups = ratioGroups(['lancedb'], ['sqlite', 'postgres']);
    const runs: RepeatRun[] = [
      ...repeat(1, 1),
      // PostgreSQL's floor is slower than SQLite's strategies, but only its own group's strategies count.
      { repeat: 1, result: run('postgres-only', 'none', 4, { relational: 'postgres' }) },
      { repeat: 1, result: run('raw-outbox-tx', 'none', 3, { relational: 'postgres' }) },
      { repeat: 1, result: run('batch', 'lancedb', 5, { relational: 'postgres' }) },
    ];
    expect(findMeasurementFaults(runs, groups)).toEqual([
      { group: 'lancedb+postgres', more: 'raw-outbox-tx', less: 'relational-only', ratio: 0.75 },
    ]);
  });
});
