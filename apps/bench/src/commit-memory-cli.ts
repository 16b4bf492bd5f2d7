#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench commit-memory [--commits 10000] [--sample-every 500] [--dim 384]
 * [--out bench-results]`: does a long-running LanceDB writer's memory stay flat? Runs
 * {@link measureCommitMemory} twice, each in a fresh Node process — with the store's defaults (a new
 * connection and table handle every `refreshTableEvery` commits) and with `refreshTableEvery: 0` (one handle
 * for the store's life) — prints RSS against commits for both and checks the target (RSS after 10,000
 * commits within 10 % of RSS after 1,000, with the defaults). Writes `commit-memory.{json,md}`.
 * @packageDocumentation
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommitMemoryResult, commitMemoryTarget, measureCommitMemory } from './runs/commit-memory.js';
import { commandArgs, positiveIntOption } from './util/cli-options.js';

const values = commandArgs(
  'commit-memory',
  "Does a long-running LanceDB writer's memory stay flat? RSS against commits with the store's defaults and\nwith refreshTableEvery: 0; writes <out>/commit-memory.{json,md}.",
  {
    commits: { type: 'string', default: '10000' },
    'sample-every': { type: 'string', default: '500' },
    dim: { type: 'string', default: '384' },
    out: { type: 'string', default: 'bench-results' },
    /** Internal: run one measurement in this process and print its JSON. */
    child: { type: 'string' },
  },
);
const commits = positiveIntOption(values, 'commits');
const sampleEvery = positiveIntOption(values, 'sample-every');
const dimension = positiveIntOption(values, 'dim');

if (values.child !== undefined) {
  const refreshTableEvery = values.child === 'default' ? undefined : Number(values.child);
  const result = await measureCommitMemory({ commits, sampleEvery, dimension, refreshTableEvery });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const results: CommitMemoryResult[] = [];
for (const variant of ['default', '0']) {
  process.stderr.write(`commit-memory: ${commits} commits, refreshTableEvery ${variant} ...\n`);
  const output = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--child', variant],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
  );
  results.push(JSON.parse(output.trim().split('\n').at(-1)!) as CommitMemoryResult);
}

const target = commitMemoryTarget(results[0]!);
const lines = [
  `# LanceDB commits and RSS (${commits} single-record upserts, ${dimension}-d, 1,000 ids, fresh process each)`,
  '',
  `| commits | ${results.map((r) => `RSS MB, refreshTableEvery ${r.refreshTableEvery}`).join(' | ')} |`,
  `|---|${results.map(() => '---').join('|')}|`,
  ...results[0]!.samples.map(
    (s, i) => `| ${s.commits} | ${results.map((r) => r.samples[i]?.rssMb ?? '').join(' | ')} |`,
  ),
  '',
  `ms per commit: ${results.map((r) => `${r.msPerCommit.toFixed(1)} (refreshTableEvery ${r.refreshTableEvery})`).join(', ')}`,
  '',
  `Target (defaults): RSS after 10,000 commits ≤ 1.1 × RSS after 1,000 — ${target.at10k ?? '?'} / ${target.at1k ?? '?'} MB` +
    ` = ${target.ratio ?? 'n/a'}: ${target.status}`,
];
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'commit-memory.json'), `${JSON.stringify({ results, target }, null, 2)}\n`);
writeFileSync(join(out, 'commit-memory.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n\nWrote ${join(out, 'commit-memory.{json,md}')}\n`);
