#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench optimize-pacing [--rows 1000,20000,50000] [--writes 300] [--shares 1,0.25]
 * [--dim 384] [--out bench-results]`: what does a single-record LanceDB write cost on a table of each size,
 * background optimizes included, at each `autoOptimizeShare`? `1` lets optimizes come every
 * `autoOptimizeEvery` (50) writes on these sizes, as a fixed interval did; `0.25` is the default. Prints a
 * table and writes `optimize-pacing.{json,md}`.
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { measureOptimizePacing, type OptimizePacingResult } from './runs/optimize-pacing.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

const values = commandArgs(
  'optimize-pacing',
  'What a single-record LanceDB write costs on a table of each size, background optimizes included, at each\nautoOptimizeShare; writes <out>/optimize-pacing.{json,md}.',
  {
    rows: { type: 'string', default: '1000,20000,50000' },
    writes: { type: 'string', default: '300' },
    shares: { type: 'string', default: '1,0.25' },
    dim: { type: 'string', default: '384' },
    out: { type: 'string', default: 'bench-results' },
  },
);
const list = (name: 'rows' | 'shares') =>
  values[name].split(',').map((v) => {
    const n = Number(v);
    if (!(n > 0)) throw new RangeError(`--${name} must list positive numbers, got ${JSON.stringify(v)}`);
    return n;
  });
const writes = positiveIntOption(values, 'writes');
const dimension = positiveIntOption(values, 'dim');

const results: OptimizePacingResult[] = [];
for (const rows of list('rows'))
  for (const autoOptimizeShare of list('shares')) {
    const result = await measureOptimizePacing({ rows, writes, dimension, autoOptimizeShare });
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
  }

const ms = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} ms`);
const lines = [
  `# LanceDB write cost with paced auto-optimize (${writes} single-record upserts, ${dimension}-d)`,
  '',
  '| table rows | autoOptimizeShare | mean / write | p50 | p99 | max | optimizes | last optimize | interval at end |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.rows.toLocaleString('en-US')} | ${r.autoOptimizeShare} | ${ms(r.meanMs)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} | ${r.optimizes} | ${ms(r.lastOptimizeMs)} | ${r.interval} |`,
  ),
];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'optimize-pacing.json'),
  `${JSON.stringify({ writes, dimension, results }, null, 2)}\n`,
);
writeFileSync(join(out, 'optimize-pacing.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
