#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench embed-drain [--relational sqlite,postgres,mysql] [--records 2000]
 * [--rounds 2] [--strategy async-queue|batch] [--database-url URL] [--mysql-url URL] [--out DIR]`: what
 * embedding on delivery costs the drain. Per relational backend and round, `--records` puts with delivery
 * paused, then the time from `resume()` until `flush()` returns, into a fresh LanceDB table (384-d): once with
 * the caller's embeddings, once without (the facade's embedder fills them on delivery, through the embedding
 * cache, and stores each back on its record), interleaved. Reports the medians and their ratio. Writes
 * `embed-drain.{json,md}`.
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openVector } from '@dualwrite/config';
import { createDualWrite, HashingEmbedder, type RecordInput } from '@dualwrite/core';
import { eachRelationalBackend } from './backends/create-backends.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MYSQL_URL } from './backends/database-url.js';
import { median } from './measure/percentiles.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

const DIM = 384;

const values = commandArgs(
  'embed-drain',
  'Drain time of --records puts with the caller’s embeddings against the same puts embedded on delivery,\nper relational backend; writes <out>/embed-drain.{json,md}.',
  {
    relational: { type: 'string', default: 'sqlite,postgres,mysql' },
    records: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '2' },
    strategy: { type: 'string', default: 'async-queue' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL },
    'mysql-url': { type: 'string', default: DEFAULT_MYSQL_URL },
    out: { type: 'string', default: 'bench-results' },
  },
);
const records = positiveIntOption(values, 'records');
const rounds = positiveIntOption(values, 'rounds');
const strategy = values.strategy;
if (strategy !== 'async-queue' && strategy !== 'batch') {
  process.stderr.write(`error: --strategy must be async-queue or batch, got ${JSON.stringify(strategy)}\n`);
  process.exit(2);
}
const embedder = new HashingEmbedder({ dimension: DIM });
const inputs = (withEmbedding: boolean): RecordInput[] =>
  Array.from({ length: records }, (_, i) => {
    const text = `record ${i}: ${'a summary of some code '.repeat(8)}`;
    return withEmbedding ? { id: `r${i}`, text, embedding: embedder.embedOne(text) } : { id: `r${i}`, text };
  });

interface EmbedDrainResult {
  relational: string;
  strategy: string;
  records: number;
  rounds: number;
  callerEmbeddingsMs: number;
  embeddedOnDeliveryMs: number;
  ratio: number;
}

const results: EmbedDrainResult[] = [];
await eachRelationalBackend(
  values.relational,
  { prefix: 'dw-embed-drain-', databaseUrl: values['database-url'], mysqlUrl: values['mysql-url'] },
  async (name, backend, workDir) => {
    const times = { caller: [] as number[], delivery: [] as number[] };
    for (let round = 0; round < rounds; round++)
      for (const withEmbedding of round % 2 === 0 ? [true, false] : [false, true]) {
        const runId = `embeddrain_${process.pid}_${name}_${round}_${withEmbedding ? 'c' : 'd'}`;
        const lease = await backend.open(runId);
        const { store: vector } = await openVector(
          { kind: 'lancedb', lancedbDir: join(workDir, `lance-${runId}`) },
          DIM,
        );
        const dw = await createDualWrite({
          relational: lease.store,
          vector,
          embedder: new HashingEmbedder({ dimension: DIM }),
          strategy,
          driftCheck: false,
        });
        try {
          dw.pause();
          for (const input of inputs(withEmbedding)) await dw.put(input);
          const t = performance.now();
          dw.resume();
          const flushed = await dw.flush({ timeoutMs: 300_000 });
          const ms = performance.now() - t;
          if (flushed.pending > 0 || flushed.deadLetters > 0)
            throw new Error(
              `${runId}: ${flushed.pending} pending, ${flushed.deadLetters} dead after the drain`,
            );
          (withEmbedding ? times.caller : times.delivery).push(ms);
        } finally {
          await dw.close({ drain: false, timeoutMs: 5_000 });
          await lease.dispose();
        }
      }
    const callerEmbeddingsMs = Math.round(median(times.caller) ?? 0);
    const embeddedOnDeliveryMs = Math.round(median(times.delivery) ?? 0);
    const result: EmbedDrainResult = {
      relational: name,
      strategy,
      records,
      rounds,
      callerEmbeddingsMs,
      embeddedOnDeliveryMs,
      ratio: Math.round((embeddedOnDeliveryMs / callerEmbeddingsMs) * 100) / 100,
    };
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
  },
);

const lines = [
  `# Drain of ${records} puts: the caller's embeddings against embedded on delivery (${strategy}, LanceDB, ${DIM}-d, median of ${rounds})`,
  '',
  '| relational | caller embeddings ms | embedded on delivery ms | ratio |',
  '|---|---|---|---|',
  ...results.map(
    (r) => `| ${r.relational} | ${r.callerEmbeddingsMs} | ${r.embeddedOnDeliveryMs} | ${r.ratio} |`,
  ),
];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'embed-drain.json'), `${JSON.stringify({ results }, null, 2)}\n`);
writeFileSync(join(out, 'embed-drain.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n\nWrote ${join(out, 'embed-drain.{json,md}')}\n`);
