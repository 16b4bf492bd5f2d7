#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench put-many [--relational sqlite,postgres,mysql] [--size 100] [--batches 50]
 * [--strategy batch|sync-2pc] [--transaction-path] [--database-url URL] [--mysql-url URL] [--out DIR]`: what
 * a `putMany` of `--size` new records costs against the bare bulk insert of the same rows with the backend's
 * own client (`RawTable.insertMany`: no outbox, no locks, no versions), per relational backend, `--batches`
 * times each (p50 reported). With `batch` (the default) delivery is paused, so only the write is timed; a
 * `sync-2pc` call includes its vector write (a LanceDB merge of the batch). `--transaction-path` hides the
 * store's fast paths (`writeChanges`; `prepareIntents`/`commitIntents`), to show what they save. Target
 * (PostgreSQL, batch): `putMany` p50 ≤ 2 × the bare insert's. Writes `put-many.{json,md}`.
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openVector } from '@dualwrite/config';
import { createDualWrite, HashingEmbedder } from '@dualwrite/core';
import { eachRelationalBackend } from './backends/create-backends.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MYSQL_URL } from './backends/database-url.js';
import type { RawRow } from './backends/relational-backends.js';
import { median } from './measure/percentiles.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

/** The bound the project sets for PostgreSQL (issue "PostgreSQL at production grade"). */
const TARGET = { relational: 'postgres', maxRatio: 2 } as const;
const DIM = 384;

const values = commandArgs(
  'put-many',
  'A putMany of --size new records against the bare bulk insert of the same rows, per relational backend;\nwrites <out>/put-many.{json,md}.',
  {
    relational: { type: 'string', default: 'sqlite,postgres,mysql' },
    size: { type: 'string', default: '100' },
    batches: { type: 'string', default: '50' },
    strategy: { type: 'string', default: 'batch' },
    'transaction-path': { type: 'boolean', default: false },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL },
    'mysql-url': { type: 'string', default: DEFAULT_MYSQL_URL },
    out: { type: 'string', default: 'bench-results' },
  },
);
const size = positiveIntOption(values, 'size');
const strategy = values.strategy;
if (strategy !== 'batch' && strategy !== 'sync-2pc') {
  process.stderr.write(`error: --strategy must be batch or sync-2pc, got ${JSON.stringify(strategy)}\n`);
  process.exit(2);
}
/** The store methods `--transaction-path` hides, so core takes its transaction path instead. */
const FAST_PATHS = ['writeChanges', 'prepareIntents', 'commitIntents'] as const;
const batches = positiveIntOption(values, 'batches');
const embedder = new HashingEmbedder({ dimension: DIM });
const rowsOf = (batch: number, prefix: string): RawRow[] =>
  Array.from({ length: size }, (_, i) => {
    const text = `${prefix} record ${batch}-${i}`;
    return {
      id: `${prefix}-${batch}-${i}`,
      text,
      embedding: embedder.embedOne(text),
      metadata: { i },
      version: 1,
    };
  });

interface PutManyResult {
  relational: string;
  strategy: string;
  path: 'fast path' | 'transaction path';
  size: number;
  batches: number;
  putManyP50Ms: number;
  bareInsertP50Ms: number;
  ratio: number;
}

const results: PutManyResult[] = [];
await eachRelationalBackend(
  values.relational,
  { prefix: 'dw-put-many-', databaseUrl: values['database-url'], mysqlUrl: values['mysql-url'] },
  async (name, backend, workDir) => {
    const runId = `putmany_${process.pid}_${name}`;
    const lease = await backend.open(runId);
    const { store: vector } = await openVector(
      { kind: 'lancedb', lancedbDir: join(workDir, `lance-${name}`) },
      DIM,
    );
    if (values['transaction-path'])
      for (const method of FAST_PATHS) Object.assign(lease.store, { [method]: undefined });
    const dw = await createDualWrite({ relational: lease.store, vector, strategy, driftCheck: false });
    if (strategy === 'batch') dw.pause();
    const putMany: number[] = [];
    try {
      for (let b = 0; b < batches; b++) {
        const records = rowsOf(b, 'dw').map(({ version: _, ...r }) => r);
        const t = performance.now();
        await dw.putMany(records);
        putMany.push(performance.now() - t);
      }
    } finally {
      await dw.close({ drain: false, timeoutMs: 5_000 });
      await lease.dispose();
    }
    const table = await backend.openRawTable(`${runId}_raw`);
    const bare: number[] = [];
    try {
      for (let b = 0; b < batches; b++) {
        const rows = rowsOf(b, 'raw');
        const t = performance.now();
        await table.insertMany(rows);
        bare.push(performance.now() - t);
      }
    } finally {
      await table.dispose();
    }
    const putManyP50Ms = round(median(putMany) ?? 0);
    const bareInsertP50Ms = round(median(bare) ?? 0);
    const result: PutManyResult = {
      relational: name,
      strategy,
      path: values['transaction-path'] ? 'transaction path' : 'fast path',
      size,
      batches,
      putManyP50Ms,
      bareInsertP50Ms,
      ratio: round(putManyP50Ms / bareInsertP50Ms),
    };
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
  },
);

const lines = [
  `# putMany of ${size} against a bare ${size}-row insert (${batches} batches each, p50, 384-d, ${
    strategy === 'batch' ? 'batch, delivery paused' : 'sync-2pc, its LanceDB write included'
  })`,
  '',
  '| relational | strategy | path | putMany p50 ms | bare insert p50 ms | ratio | target |',
  '|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.relational} | ${r.strategy} | ${r.path} | ${r.putManyP50Ms} | ${r.bareInsertP50Ms} | ${r.ratio} | ${
        r.relational === TARGET.relational && r.strategy === 'batch'
          ? `≤ ${TARGET.maxRatio}: ${r.ratio <= TARGET.maxRatio ? 'met' : 'missed'}`
          : 'information'
      } |`,
  ),
];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'put-many.json'), `${JSON.stringify({ results }, null, 2)}\n`);
writeFileSync(join(out, 'put-many.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n\nWrote ${join(out, 'put-many.{json,md}')}\n`);

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
