#!/usr/bin/env node
/**
 * `pnpm --filter @dualwrite/bench tight-loop [--seconds 10] [--strategies batch,async-queue] [--yield-every-ms 2,0]`:
 * runs {@link runTightLoop} for each strategy × yield setting and prints one JSON line per run.
 * @packageDocumentation
 */
import type { StrategyName } from '@dualwrite/core';
import { runTightLoop } from './runs/tight-loop.js';
import { commandArgs } from './util/cli-options.js';

const values = commandArgs(
  'tight-loop',
  'Puts in a tight loop per strategy × yield setting; prints one JSON line per run.',
  {
    seconds: { type: 'string', default: '10' },
    strategies: { type: 'string', default: 'batch,async-queue' },
    'yield-every-ms': { type: 'string', default: '2,0' },
  },
);
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new RangeError(`--seconds must be a positive number, got ${values.seconds}`);
for (const strategy of values.strategies.split(',') as StrategyName[])
  for (const yieldEveryMs of values['yield-every-ms'].split(',').map(Number)) {
    const result = await runTightLoop({ strategy, seconds, yieldEveryMs });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
