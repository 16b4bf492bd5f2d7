#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench put-layers [--relational sqlite,postgres,mysql] [--records 5000] [--rounds 3]
 * [--dim 384] [--database-url URL] [--mysql-url URL] [--out DIR]`: where a durable put's time goes on each
 * relational backend ({@link measurePutLayers}) — the hand-written floor, the store's write call, `dw.put` with
 * delivery paused, and `dw.put` while delivery runs into the in-memory index and into LanceDB — as p50 / p90 /
 * mean and as ratios to the floor. Writes `put-layers.{json,md}`.
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eachRelationalBackend } from './backends/create-backends.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MYSQL_URL } from './backends/database-url.js';
import { measurePutLayers, type PutLayerResult } from './runs/put-layers.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

const values = commandArgs(
  'put-layers',
  "Where a durable put's time goes, layer by layer, on each relational backend: the floor, the store's write\ncall, dw.put paused, dw.put delivering (memory index, LanceDB); writes <out>/put-layers.{json,md}.",
  {
    relational: { type: 'string', default: 'sqlite' },
    records: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    dim: { type: 'string', default: '384' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL },
    'mysql-url': { type: 'string', default: DEFAULT_MYSQL_URL },
    out: { type: 'string', default: 'bench-results' },
  },
);
const options = {
  records: positiveIntOption(values, 'records'),
  rounds: positiveIntOption(values, 'rounds'),
  dimension: positiveIntOption(values, 'dim'),
};
const ms = (x: number) => x.toFixed(3);
const byBackend: Record<string, PutLayerResult[]> = {};
const lines = [
  `# Where a put's time goes (${options.records} new records of ${options.dimension}-d per layer, median of ` +
    `${options.rounds} rounds; delivering layers: batch, same process)`,
];
await eachRelationalBackend(
  values.relational,
  { databaseUrl: values['database-url'], mysqlUrl: values['mysql-url'], prefix: 'dw-put-layers-' },
  async (name, backend, workDir) => {
    const results = await measurePutLayers({ ...options, backend, workDir });
    byBackend[name] = results;
    const floor = results[0]!;
    lines.push(
      '',
      `## ${name}`,
      '',
      '| layer | p50 ms | p90 ms | mean ms | p50 / raw-outbox-tx |',
      '|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.layer} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.mean)} | ${(r.p50 / floor.p50).toFixed(2)} |`,
      ),
    );
  },
);
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'put-layers.json'), `${JSON.stringify({ options, results: byBackend }, null, 2)}\n`);
writeFileSync(join(out, 'put-layers.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n\nWrote ${join(out, 'put-layers.{json,md}')}\n`);
