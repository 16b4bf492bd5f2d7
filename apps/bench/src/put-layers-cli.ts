#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench put-layers [--records 5000] [--rounds 3] [--dim 384] [--out DIR]`: where a
 * durable put's time goes on SQLite with delivery out of the way ({@link measurePutLayers}) — the
 * hand-written floor, the store's transaction, `dw.put` with delivery paused — as p50 / p90 / mean and as
 * ratios to the floor. Writes `put-layers.{json,md}`.
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { measurePutLayers } from './runs/put-layers.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

const values = commandArgs(
  'put-layers',
  "Where a durable put's time goes on SQLite with delivery paused: the floor, the store's transaction, dw.put;\nwrites <out>/put-layers.{json,md}.",
  {
    records: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    dim: { type: 'string', default: '384' },
    out: { type: 'string', default: 'bench-results' },
  },
);
const options = {
  records: positiveIntOption(values, 'records'),
  rounds: positiveIntOption(values, 'rounds'),
  dimension: positiveIntOption(values, 'dim'),
};
const results = await measurePutLayers(options);
const floor = results[0]!;
const ms = (x: number) => x.toFixed(3);
const lines = [
  `# Where a put's time goes (SQLite, ${options.records} new records of ${options.dimension}-d per layer, ` +
    `median of ${options.rounds} rounds, delivery paused)`,
  '',
  '| layer | p50 ms | p90 ms | mean ms | p50 / raw-outbox-tx |',
  '|---|---|---|---|---|',
  ...results.map(
    (r) => `| ${r.layer} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.mean)} | ${(r.p50 / floor.p50).toFixed(2)} |`,
  ),
];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'put-layers.json'), `${JSON.stringify({ options, results }, null, 2)}\n`);
writeFileSync(join(out, 'put-layers.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n\nWrote ${join(out, 'put-layers.{json,md}')}\n`);
