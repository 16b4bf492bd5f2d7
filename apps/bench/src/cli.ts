#!/usr/bin/env node
/**
 * `pnpm bench [options]`: runs the dualwrite benchmark and writes `<out>/latest.{json,md,html}`.
 * Exit code 1 when a run failed or a verification found lost records or orphans; missed performance
 * targets are reported, not failed.
 * @packageDocumentation
 */
import { parseArgs } from './args.js';
import { runBench } from './bench.js';

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const outcome = await runBench(options);
  for (const r of outcome.inconsistent)
    process.stderr.write(
      `verification failed: ${r.name} · ${r.vector}: lost ${r.lost}, orphans ${r.orphans}\n`,
    );
  return outcome.failures.length > 0 || outcome.inconsistent.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
