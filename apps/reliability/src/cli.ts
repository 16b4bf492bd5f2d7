/**
 * `pnpm --filter @dualwrite/reliability soak [--trials N] [--strategies a,b] [--vectors lancedb,chroma]
 * [--relational sqlite|mysql|postgres] [--seed S] [--concurrency C] [--out report.json] [--quiet]`
 *
 * Runs N crash trials per strategy × vector backend (see `runSoak`), prints progress on stderr, the JSON
 * report (or writes it to `--out`) and a one-line summary on stdout. Exit code 1 when any guarantee broke.
 */
import { writeFile } from 'node:fs/promises';
import { STRATEGY_NAMES, type StrategyName } from '@dualwrite/core';
import type { RelationalBackendName, VectorBackendName } from './protocol.js';

const RELATIONAL: RelationalBackendName[] = ['sqlite', 'mysql', 'postgres'];

import { runSoak, summaryLine } from './soak.js';

const USAGE =
  'usage: soak [--trials N] [--strategies sync-2pc,async-queue,batch] [--vectors lancedb,chroma] ' +
  '[--relational sqlite|mysql|postgres] [--seed S] [--concurrency C] [--out FILE] [--quiet]';

function parse(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${arg}\n${USAGE}`);
    if (m[1] === 'quiet' || m[1] === 'help') flags.set(m[1], 'true');
    else {
      const value = m[2] ?? argv[++i];
      if (value === undefined) throw new Error(`missing value for --${m[1]}\n${USAGE}`);
      flags.set(m[1]!, value);
    }
  }
  return flags;
}

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  if (value === undefined) return [...fallback];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items)
    if (!allowed.includes(item as T))
      throw new Error(`unknown value ${item}; allowed: ${allowed.join(', ')}`);
  return items as T[];
}

function int(value: string | undefined, name: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

async function main(): Promise<number> {
  const flags = parse(process.argv.slice(2));
  if (flags.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const quiet = flags.has('quiet');
  const report = await runSoak({
    trials: int(flags.get('trials'), 'trials', 2)!,
    strategies: list<StrategyName>(flags.get('strategies'), STRATEGY_NAMES, STRATEGY_NAMES),
    vectors: list<VectorBackendName>(flags.get('vectors'), ['lancedb', 'chroma'], ['lancedb', 'chroma']),
    relational: list<RelationalBackendName>(flags.get('relational'), RELATIONAL, ['sqlite'])[0],
    seed: int(flags.get('seed'), 'seed', undefined),
    concurrency: int(flags.get('concurrency'), 'concurrency', 1),
    log: quiet ? undefined : (m) => process.stderr.write(`${m}\n`),
  });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const out = flags.get('out');
  if (out) await writeFile(out, json);
  else process.stdout.write(json);
  process.stdout.write(`${summaryLine(report)}\n`);
  return report.violations === 0 && report.errors === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
