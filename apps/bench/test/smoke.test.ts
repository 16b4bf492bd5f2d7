import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});
