import { runNaiveDualWrite } from './naive-dual-write.js';
import { runRawOutboxTx, runRelationalOnly } from './relational-only.js';
import { runStrategy } from './strategy-run.js';
import type { RunContext, RunName, RunOutcome } from './types.js';
import { runVectorRawBulk } from './vector-raw-bulk.js';
import { runVectorRawSingle } from './vector-raw-single.js';

/** Runs one run kind by name. */
export function runKind(name: RunName, ctx: RunContext): Promise<RunOutcome> {
  switch (name) {
    case 'sync-2pc':
    case 'async-queue':
    case 'batch':
      return runStrategy(name, ctx);
    case 'sqlite-only':
    case 'postgres-only':
    case 'mysql-only':
      if (ctx.relational.name !== name.replace(/-only$/, ''))
        throw new Error(`${name} cannot run on relational backend ${ctx.relational.name}`);
      return runRelationalOnly(ctx);
    case 'raw-outbox-tx':
      return runRawOutboxTx(ctx);
    case 'vector-raw-single':
      return runVectorRawSingle(ctx);
    case 'vector-raw-bulk':
      return runVectorRawBulk(ctx);
    case 'naive-dual-write':
      return runNaiveDualWrite(ctx);
  }
}
