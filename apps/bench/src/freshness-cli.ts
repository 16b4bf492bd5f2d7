#!/usr/bin/env node
import { readFileSync } from 'node:fs';
/**
 * `pnpm --filter @dualwrite/bench freshness [--rates 20,200,2000] [--seconds 8]
 * [--strategies sync-2pc,async-queue,batch] [--vector lancedb,chroma] [--chroma-url URL]
 * [--relational sqlite,postgres,mysql] [--database-url URL] [--mysql-url URL] [--out DIR]`:
 * open-loop time-to-visible per strategy × backend × offered rate ({@link runFreshnessCell}). Prints one
 * JSON line per cell, then the table and the advice read off it; writes `<out>/freshness.{json,md,html}`
 * (the HTML opens with the decision chart).
 * @packageDocumentation
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StrategyName } from '@dualwrite/core';
import { createRelationalBackend } from './backends/create-backends.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MYSQL_URL } from './backends/database-url.js';
import type { RelationalBackend } from './backends/relational-backends.js';
import { freshnessAdvice, freshnessTable, renderFreshnessHtml } from './report/freshness-report.js';
import { chartJsBundlePath } from './report/html.js';
import { type FreshnessCell, runFreshnessCell } from './runs/freshness.js';
import { commandArgs } from './util/cli-options.js';

const values = commandArgs(
  'freshness',
  'How long until a write is searchable at each offered rate: open-loop arrivals per strategy × backend × rate;\nwrites <out>/freshness.{json,md,html}.',
  {
    rates: { type: 'string', default: '20,200,2000' },
    seconds: { type: 'string', default: '8' },
    strategies: { type: 'string', default: 'sync-2pc,async-queue,batch' },
    vector: { type: 'string', default: 'lancedb' },
    'chroma-url': { type: 'string' },
    relational: { type: 'string', default: 'sqlite' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL },
    'mysql-url': { type: 'string', default: DEFAULT_MYSQL_URL },
    out: { type: 'string', default: 'bench-results' },
  },
);
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new RangeError(`--seconds must be a positive number, got ${values.seconds}`);
const rates = values.rates.split(',').map(Number);
if (rates.some((r) => !(r > 0)))
  throw new RangeError(`--rates must be positive numbers, got ${values.rates}`);
const vectors = values.vector.split(',') as ('lancedb' | 'chroma')[];
let chromaUrl = values['chroma-url'];
let stopChroma: (() => Promise<void>) | undefined;
if (vectors.includes('chroma') && !chromaUrl) {
  const { startLocalChroma } = await import('@dualwrite/chroma/local-server');
  const server = await startLocalChroma({ timeoutMs: 120_000 });
  chromaUrl = server.url;
  stopChroma = () => server.stop();
}
const cells: FreshnessCell[] = [];
const started = new Date();
const workDir = await mkdtemp(join(tmpdir(), 'dw-freshness-'));
const relationals: RelationalBackend[] = [];
try {
  for (const name of values.relational.split(','))
    relationals.push(
      await createRelationalBackend(name, {
        workDir,
        databaseUrl: values['database-url'],
        mysqlUrl: values['mysql-url'],
      }),
    );
  for (const relational of relationals)
    for (const vector of vectors)
      for (const rate of rates)
        for (const strategy of values.strategies.split(',') as StrategyName[]) {
          const cell = await runFreshnessCell({ strategy, vector, chromaUrl, rate, seconds, relational });
          cells.push(cell);
          process.stdout.write(
            `${JSON.stringify({ ...cell, backlog: undefined, peakBacklog: Math.max(0, ...cell.backlog) })}\n`,
          );
        }
} finally {
  await Promise.allSettled(relationals.map((r) => r.shutdown()));
  await rm(workDir, { recursive: true, force: true });
  await stopChroma?.();
}
const markdown = `# dualwrite freshness

Run ${started.toISOString()}: open-loop arrivals for ${seconds} s per cell, ${values.relational} + ${vectors.join(', ')},
caller-supplied 384-d embeddings, one new id per arrival, at most 256 callers in flight. "visible" is the
time from a record's scheduled arrival to the return of the vector call that carried it.

${freshnessTable(cells)}

Which strategy for which load (lowest p99 time-to-visible among those that kept up):

${freshnessAdvice(cells)}
`;
process.stdout.write(`\n${markdown}`);
const out = resolve(values.out);
await mkdir(out, { recursive: true });
await writeFile(
  join(out, 'freshness.json'),
  `${JSON.stringify({ started, seconds, rates, cells }, null, 2)}\n`,
);
await writeFile(join(out, 'freshness.md'), markdown);
await writeFile(
  join(out, 'freshness.html'),
  renderFreshnessHtml(
    cells,
    `Open-loop arrivals for ${seconds} s per cell, ${values.relational} + ${vectors.join(', ')}, run ${started.toISOString()}.`,
    readFileSync(chartJsBundlePath(), 'utf8'),
  ),
);
