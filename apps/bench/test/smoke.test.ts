import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.js';
import { runBench } from '../src/bench.js';

const RUN_KEYS = [
  'name',
  'kind',
  'vector',
  'relational',
  'records',
  'batchSize',
  'callerLatencyMs',
  'callerThroughput',
  'timeToConsistencyMs',
  'endToEndThroughput',
  'vectorCalls',
  'retries',
  'peakRssMb',
  'lost',
  'orphans',
].sort();

const RATIO_KEYS = [
  'asyncCallerP50VsSqliteOnly',
  'batchThroughputVsRawBulk',
  'sync2pcP50VsRawSum',
  'batchVsSync2pcTimeToConsistency',
  'batchVectorCallsVsSync2pc',
  'batchCallerP50VsSqliteOnly',
  'asyncCallerP50VsRawOutboxTx',
  'batchCallerP50VsRawOutboxTx',
  'batchTimeVsRawOutboxTxPlusBulk',
  'asyncVsSync2pcTimeToConsistency',
].sort();

const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// No timing assertions: this checks the benchmark's plumbing and correctness checks only.
describe('bench smoke (30 records, lancedb, in-process)', () => {
  it('runs every strategy and baseline, verifies them, and writes json/md/html', async () => {
    const options = {
      ...parseArgs([
        '--records',
        '30',
        '--batch-size',
        '10',
        '--vector',
        'lancedb',
        '--out',
        out,
        '--no-progress',
      ]),
      print: false,
    };
    const outcome = await runBench(options);
    expect(outcome.failures).toEqual([]);

    const json = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(Object.keys(json)).toEqual(['meta', 'runs', 'ratios']);
    expect(json.meta).toMatchObject({
      machine: { cpuModel: expect.any(String), cores: expect.any(Number), node: process.version },
      packages: { '@dualwrite/core': expect.any(String), typescript: '5.9.3' },
      args: { records: 30, vector: ['lancedb'] },
      date: expect.any(String),
    });

    const names = json.runs.map((r: { name: string }) => r.name).sort();
    expect(names).toEqual(
      [
        'async-queue',
        'batch',
        'naive-dual-write',
        'raw-outbox-tx',
        'sqlite-only',
        'sync-2pc',
        'vector-raw-bulk',
        'vector-raw-single',
      ].sort(),
    );
    for (const run of json.runs) {
      expect(Object.keys(run).sort()).toEqual(RUN_KEYS);
      expect(Object.keys(run.callerLatencyMs).sort()).toEqual(['p50', 'p95', 'p99']);
      expect(run.kind).toBe(
        ['sync-2pc', 'async-queue', 'batch'].includes(run.name) ? 'strategy' : 'baseline',
      );
      expect(run.records).toBe(30);
      expect(run.batchSize).toBe(10);
      expect(run.lost, `${run.name} lost`).toBe(0);
      expect(run.orphans, `${run.name} orphans`).toBe(0);
      for (const key of ['callerThroughput', 'timeToConsistencyMs', 'endToEndThroughput', 'peakRssMb'])
        expect(run[key], `${run.name}.${key}`).toBeGreaterThan(0);
    }
    const byName = new Map(json.runs.map((r: { name: string }) => [r.name, r]));
    expect(byName.get('sync-2pc')).toMatchObject({
      vector: 'lancedb',
      relational: 'sqlite',
      vectorCalls: 30,
    });
    expect(byName.get('vector-raw-bulk')).toMatchObject({ relational: 'none', vectorCalls: 3 });
    expect(byName.get('sqlite-only')).toMatchObject({ vector: 'none', vectorCalls: 0 });
    expect(byName.get('raw-outbox-tx')).toMatchObject({
      vector: 'none',
      relational: 'sqlite',
      vectorCalls: 0,
    });

    expect(Object.keys(json.ratios)).toEqual(['lancedb']);
    expect(Object.keys(json.ratios.lancedb).sort()).toEqual(RATIO_KEYS);
    for (const key of RATIO_KEYS) expect(typeof json.ratios.lancedb[key]).toBe('number');

    expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| sync-2pc |');
    const html = readFileSync(join(out, 'latest.html'), 'utf8');
    expect(html).toContain('<canvas id="latency">');
    expect(html).not.toMatch(/<script[^>]+src=/); // offline: Chart.js is inlined, nothing is fetched
    expect(html.length).toBeGreaterThan(100_000);
    expect(existsSync(join(out, 'latest.html'))).toBe(true);
  });

  it('keeps the defaults: sqlite only, lancedb, 1,000 records, no drain scaling', () => {
    const o = parseArgs([], '/tmp');
    expect(o).toMatchObject({
      relationals: ['sqlite'],
      vectors: ['lancedb'],
      records: 1000,
      drainWorkers: [],
    });
  });
});

/**
 * The PostgreSQL server: `DUALWRITE_TEST_DATABASE_URL` (as the postgres package's tests), else
 * `DATABASE_URL`, else the CI server. Skipped when it does not answer, except under CI (`CI` set), where a
 * missing server must fail the test rather than hide it.
 */
const DATABASE_URL =
  process.env.DUALWRITE_TEST_DATABASE_URL ??
  process.env.DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/test';
const pgUnreachable = await (async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
})();
const skipPostgres = pgUnreachable !== undefined && !process.env.CI;
if (skipPostgres)
  console.warn(`bench smoke: skipping the postgres test, PostgreSQL not reachable (${pgUnreachable})`);

describe.skipIf(skipPostgres)(
  `bench smoke (20 records, --relational postgres --drain-workers 1,2)${
    skipPostgres ? ` — SKIPPED: PostgreSQL not reachable at ${DATABASE_URL}: ${pgUnreachable}` : ''
  }`,
  () => {
    const pgOut = join(out, 'pg');
    it('runs the strategies and baselines on PostgreSQL, the drain scaling, verifies, and drops its schemas', async () => {
      const options = {
        ...parseArgs([
          '--records',
          '20',
          '--batch-size',
          '5',
          '--relational',
          'postgres',
          '--database-url',
          DATABASE_URL,
          '--drain-workers',
          '2,1',
          '--drain-held-snapshot',
          '--out',
          pgOut,
          '--no-progress',
        ]),
        print: false,
      };
      expect(options.drainWorkers).toEqual([1, 2]);
      expect(options.drainHeldSnapshot).toBe(true);
      const outcome = await runBench(options);
      expect(outcome.failures).toEqual([]);

      const json = JSON.parse(readFileSync(join(pgOut, 'latest.json'), 'utf8'));
      expect(Object.keys(json)).toEqual(['meta', 'runs', 'ratios']);
      const names = json.runs.map((r: { name: string; relational: string }) => `${r.name}|${r.relational}`);
      expect(names.sort()).toEqual(
        [
          'async-queue|postgres',
          'batch|postgres',
          'naive-dual-write|postgres',
          'postgres-only|postgres',
          'raw-outbox-tx|postgres',
          'sync-2pc|postgres',
          'vector-raw-bulk|none',
          'vector-raw-single|none',
        ].sort(),
      );
      for (const run of json.runs) {
        expect(Object.keys(run).sort()).toEqual(RUN_KEYS);
        expect(run.records).toBe(20);
        expect(run.lost, `${run.name} lost`).toBe(0);
        expect(run.orphans, `${run.name} orphans`).toBe(0);
      }
      expect(json.runs.find((r: { name: string }) => r.name === 'postgres-only')).toMatchObject({
        vector: 'none',
        vectorCalls: 0,
      });

      // Ratios: same fields, keyed "<vector>+postgres" (postgres-only is the relational-only baseline).
      expect(Object.keys(json.ratios)).toEqual(['lancedb+postgres']);
      expect(Object.keys(json.ratios['lancedb+postgres']).sort()).toEqual(RATIO_KEYS);
      for (const key of RATIO_KEYS) expect(typeof json.ratios['lancedb+postgres'][key]).toBe('number');
      expect(json.meta.targets.map((t: { target: string }) => t.target).join('\n')).toContain(
        'postgres-only',
      );

      // Drain scaling: K = 1 and 2 separate worker processes, verified.
      const drain = json.meta.drainScaling as {
        workers: number;
        records: number;
        relational: string;
        perWorker: number[];
        drainMs: number;
        throughput: number;
        speedup: number | null;
        heldSnapshotDrainMs?: number;
        heldSnapshotThroughput?: number;
        heldSnapshotRatio?: number;
        lost: number;
        orphans: number;
      }[];
      expect(drain.map((d) => d.workers)).toEqual([1, 2]);
      for (const d of drain) {
        expect(d).toMatchObject({ relational: 'postgres', records: 20, lost: 0, orphans: 0 });
        expect(d.perWorker).toHaveLength(d.workers);
        expect(d.perWorker.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20);
        expect(d.drainMs).toBeGreaterThan(0);
        expect(d.throughput).toBeGreaterThan(0);
        expect(typeof d.speedup).toBe('number');
        // --drain-held-snapshot: the same drain with a REPEATABLE READ transaction held open, and the ratio.
        expect(d.heldSnapshotDrainMs).toBeGreaterThan(0);
        expect(d.heldSnapshotThroughput).toBeGreaterThan(0);
        expect(d.heldSnapshotRatio).toBeTypeOf('number');
        expect(d.heldSnapshotRatio).toBeCloseTo(d.heldSnapshotThroughput! / d.throughput, 2);
      }
      const heldTargets = (
        json.meta.targets as { target: string; vector: string; measured: number }[]
      ).filter((t) => t.target.startsWith('drain throughput with a held REPEATABLE READ'));
      expect(heldTargets.map((t) => [t.vector, t.measured])).toEqual(
        drain.map((d) => ['lancedb+postgres', d.heldSnapshotRatio]),
      );
      expect(drain[0]!.speedup).toBe(1);
      expect(outcome.drainScaling).toEqual(drain);
      expect(json.meta.notes.join('\n')).toMatch(/CPU core/);

      const md = readFileSync(join(pgOut, 'latest.md'), 'utf8');
      expect(md).toContain('## Drain scaling');
      expect(md).toContain('held RR ratio');
      expect(md).toContain('| postgres-only |');
      expect(readFileSync(join(pgOut, 'latest.html'), 'utf8')).toContain('<canvas id="drain">');

      // Every run's schema is gone (run ids start with this process's pid in base 36).
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [
          `dwb_${process.pid.toString(36)}%`,
        ]);
        expect(rows).toEqual([]);
      } finally {
        await client.end();
      }
    }, 240_000);
  },
);
