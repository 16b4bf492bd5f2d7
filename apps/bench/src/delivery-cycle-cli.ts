#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench delivery-cycle [--relational sqlite,postgres,mysql] [--cycles 800]
 * [--database-url URL] [--mysql-url URL] [--out DIR]`: what a drain worker's own calls on the source of truth
 * cost while it keeps up with a trickle, per relational backend — for each of `--cycles` single-record writes,
 * the claim that takes it, its ack, and the claim after it that comes back empty (a drainer that keeps up makes
 * one after each delivery, and an idle one polls) — as p50 ms. No vector store and no facade: the store's
 * `claimOutbox` and `ackOutbox` alone. Writes `delivery-cycle.{json,md}`.
 * @packageDocumentation
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eachRelationalBackend } from './backends/create-backends.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MYSQL_URL } from './backends/database-url.js';
import { percentile } from './measure/percentiles.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

const values = commandArgs(
  'delivery-cycle',
  "A drain worker's claim, ack and empty claim per single-record write, per relational backend (p50);\nwrites <out>/delivery-cycle.{json,md}.",
  {
    relational: { type: 'string', default: 'sqlite,postgres,mysql' },
    cycles: { type: 'string', default: '800' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL },
    'mysql-url': { type: 'string', default: DEFAULT_MYSQL_URL },
    out: { type: 'string', default: 'bench-results' },
  },
);
const cycles = positiveIntOption(values, 'cycles');

interface CycleResult {
  relational: string;
  cycles: number;
  claimP50Ms: number;
  ackP50Ms: number;
  emptyClaimP50Ms: number;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
const results: CycleResult[] = [];
await eachRelationalBackend(
  values.relational,
  { prefix: 'dw-delivery-cycle-', databaseUrl: values['database-url'], mysqlUrl: values['mysql-url'] },
  async (name, backend) => {
    const lease = await backend.open(`cycle_${process.pid}_${name}`);
    const { store } = lease;
    const timed = async <T>(into: number[], call: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const result = await call();
      into.push(performance.now() - started);
      return result;
    };
    const claims: number[] = [];
    const acks: number[] = [];
    const empty: number[] = [];
    try {
      await store.init();
      const claim = () => store.claimOutbox({ owner: 'bench', limit: 100, leaseMs: 30_000, now: Date.now() });
      for (let i = 0; i < cycles; i++) {
        const record = { id: `r${i % 50}`, text: `cycle ${i}`, metadata: {}, embedding: [1, 0, 0, 0] };
        await store.writeChanges!([{ op: 'put', record }], Date.now());
        const leases = await timed(claims, claim);
        if (leases.length !== 1) throw new Error(`${name}: claimed ${leases.length} entries, expected 1`);
        const ack = leases.map((l) => ({
          recordId: l.recordId,
          leaseToken: l.leaseToken,
          appliedVersion: l.version,
        }));
        const [outcome] = await timed(acks, () => store.ackOutbox(ack, Date.now()));
        if (outcome !== 'acked') throw new Error(`${name}: ack came back ${outcome}`);
        if ((await timed(empty, claim)).length !== 0)
          throw new Error(`${name}: a claim after the ack took work`);
      }
    } finally {
      await lease.dispose();
    }
    const result: CycleResult = {
      relational: name,
      cycles,
      claimP50Ms: round(percentile(claims, 50)),
      ackP50Ms: round(percentile(acks, 50)),
      emptyClaimP50Ms: round(percentile(empty, 50)),
    };
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
  },
);

const lines = [
  `# A drain worker's calls per single-record write (${cycles} cycles, p50 ms)`,
  '',
  '| relational | claim | ack | empty claim |',
  '|---|---|---|---|',
  ...results.map((r) => `| ${r.relational} | ${r.claimP50Ms} | ${r.ackP50Ms} | ${r.emptyClaimP50Ms} |`),
];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'delivery-cycle.json'), `${JSON.stringify({ cycles, results }, null, 2)}\n`);
writeFileSync(join(out, 'delivery-cycle.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n\nWrote ${join(out, 'delivery-cycle.{json,md}')}\n`);
