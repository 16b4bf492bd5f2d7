import { openBackends, startErrorMessage } from '@dualwrite/config';
import {
  countLiveRecords,
  createDualWrite,
  type DualWrite,
  type DualwriteEventMap,
  type RelationalStore,
  readBinding,
  SOURCE_TOKEN_KEY,
  type VectorStore,
  verifyConsistency,
} from '@dualwrite/core';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { Command, CommanderError } from 'commander';
import {
  CLI_VERSION,
  type CommandHelp,
  parseWorkerConfig,
  type WorkerConfig,
  WorkerConfigError,
} from './config.js';
import { runCli } from './run-cli.js';

/** Where the operator CLI writes; `isTTY` turns on the reconcile progress bar. */
export interface OperatorIo {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY?: boolean;
}

/** The operator's flags, taken out of the command line before the shared backend flags are parsed. */
interface OperatorFlags {
  json: boolean;
  dryRun: boolean;
  limit: number;
  after: string | undefined;
  ids: string[];
}

/** What each inspecting command does, as its `--help` says. */
const COMMANDS = {
  status: 'Prints the outbox depth, lag, dead letters, index binding and drift.',
  reconcile:
    'Compares the index with the source of truth and enqueues repairs for every difference (--dry-run: only reports them).',
  'dead-letters':
    'dead-letters list: lists dead letters (--limit N, --after ID). dead-letters requeue: moves dead letters back to pending (all, or --id ID ...).',
  verify: 'Checks that the index equals the source of truth; exits 1 when it does not.',
} as const;

/** Which of the operator flags each command takes (any other is refused, never ignored). */
const COMMAND_FLAGS = {
  status: ['--json'],
  verify: ['--json'],
  reconcile: ['--json', '--dry-run'],
  'dead-letters list': ['--json', '--limit', '--after'],
  'dead-letters requeue': ['--json', '--id'],
} as const;

/** The operator commands' own flags (taken out by `operatorFlags`), for the help and for suggestions. */
const OPERATOR_OPTIONS = [
  ['--json', 'one JSON document on stdout instead of tables'],
  ['--dry-run', '(reconcile) report differences without enqueueing repairs'],
  ['--limit <n>', '(dead-letters list) page size, 1..10000 (default 100)'],
  ['--after <id>', '(dead-letters list) the id to page after'],
  ['--id <id>', '(dead-letters requeue) requeue this id only; repeatable'],
] as const;

const USAGE = `Usage: dualwrite <command> [options]

Commands (every command takes the worker's backend flags and environment: see \`dualwrite worker --help\`):
  worker                     run the drain loop (what dualwrite-worker does)
  status                     outbox depth, lag, dead letters, index binding and drift
  reconcile [--dry-run]      compare the index with the source of truth; enqueue repairs unless --dry-run
  dead-letters list          list dead letters (--limit N, --after ID)
  dead-letters requeue       move dead letters back to pending (all, or --id ID ...)
  verify                     check the index equals the source of truth; exit 1 when it does not

Options of the operator commands:
${OPERATOR_OPTIONS.map(([flags, description]) => `  ${flags.padEnd(27)}${description}`).join('\n')}
  --version                  print the version
  dualwrite <command> --help lists a command's flags
`;

/**
 * `dualwrite <command>`: runs the drain worker, or inspects and repairs the queue from a shell (status,
 * reconcile, dead letters, verify), over the same configuration as the worker. The inspecting commands open
 * the facade without delivery (`deliver: false`) and without an embedder: they never deliver or embed.
 * @returns the exit code: 0 success; 1 a backend failed, or `verify` found differences; 2 usage errors.
 */
export async function runOperatorCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: OperatorIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
): Promise<number> {
  const [node = 'node', script = 'dualwrite', command, ...rest] = argv;
  if (command === 'worker') return runCli([node, 'dualwrite worker', ...rest], env);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    io.out(`${CLI_VERSION}\n`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    io.err(`dualwrite: ${unknownCommand(command)}\n\n${USAGE}`);
    return 2;
  }
  const asksHelp = rest.some((a) => a === '--help' || a === '-h');
  const sub = command === 'dead-letters' && !asksHelp ? rest.shift() : undefined;
  if (command === 'dead-letters' && !asksHelp && sub !== 'list' && sub !== 'requeue') {
    io.err(`dualwrite dead-letters: expected "list" or "requeue", got ${JSON.stringify(sub)}\n`);
    return 2;
  }
  const help: CommandHelp = {
    name: `dualwrite ${command}`,
    description: `${COMMANDS[command as keyof typeof COMMANDS]} Takes the worker's backend flags and environment.`,
    options: OPERATOR_OPTIONS,
  };
  let flags: OperatorFlags;
  let config: WorkerConfig;
  try {
    const split = operatorFlags(
      rest,
      (sub === undefined ? command : `${command} ${sub}`) as keyof typeof COMMAND_FLAGS,
    );
    flags = split.flags;
    config = parseWorkerConfig(
      [node, `${script} ${command}`, ...split.rest],
      env,
      { writeOut: io.out, writeErr: io.err },
      'inspect',
      help,
    );
  } catch (error) {
    if (error instanceof WorkerConfigError) {
      if (error.exitCode !== 0) io.err(`dualwrite ${command}: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }

  // Only `reconcile` without --dry-run writes: it creates a missing index, and with vector.indexBinding "rebind"
  // moves the binding to the configured index and runs the repair a worker's start would. The other commands
  // only look: a mistyped LanceDB path is an error, not a new empty index.
  const repairs = command === 'reconcile' && !flags.dryRun;
  const rebind = repairs && config.vector.indexBinding === 'rebind';
  let dw: DualWrite;
  let relational: RelationalStore;
  let vector: VectorStore;
  let rebound: IndexRepair[] = [];
  try {
    const backends = await openBackends(config, {
      create: false,
      createIndex: repairs,
      applicationName: 'dualwrite-cli',
    });
    relational = backends.relational.store;
    vector = backends.vector.store;
    dw = await createDualWrite({
      relational,
      vector,
      strategy: config.strategy.name,
      deliver: false,
      // A rebind's repair runs in this process (a process with neither delivery nor checks repairs nothing).
      driftCheck: rebind ? {} : false,
      indexBinding: rebind ? 'rebind' : 'verify',
    });
    if (rebind) rebound = await repairAfterRebind(dw);
  } catch (error) {
    io.err(`dualwrite ${command}: ${startErrorMessage(error)}\n`);
    return 1;
  }
  try {
    switch (command) {
      case 'status':
        return await status(dw, relational, flags, io);
      case 'reconcile':
        return await reconcileCommand(dw, relational, vector, flags, io, rebound);
      case 'verify':
        return await verify(relational, vector, flags, io);
      default:
        return sub === 'list' ? await listDeadLetters(dw, flags, io) : await requeue(dw, flags, io);
    }
  } catch (error) {
    io.err(`dualwrite ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await dw.close({ drain: false, timeoutMs: 5_000 }).catch(() => {});
  }
}

/** Why `command` is not one: commander's message, with the command it was probably meant to be. */
function unknownCommand(command: string): string {
  const program = new Command('dualwrite').exitOverride().configureOutput({ outputError: () => {} });
  for (const name of ['worker', ...Object.keys(COMMANDS)]) program.command(name);
  try {
    program.parse([command], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.message;
  }
  return `unknown command ${JSON.stringify(command)}`;
}

/** Takes `--json`, `--dry-run`, `--limit N`, `--after ID` and `--id ID` (repeatable) out of `args`. */
function operatorFlags(
  args: readonly string[],
  command: keyof typeof COMMAND_FLAGS,
): { flags: OperatorFlags; rest: string[] } {
  const flags: OperatorFlags = { json: false, dryRun: false, limit: 100, after: undefined, ids: [] };
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--')))
        throw new WorkerConfigError(`${name} needs a value`);
      return v;
    };
    // helper-54: `dead-letters requeue --limit 1` requeued every dead letter, `reconcile --id x` reconciled all.
    const takenBy = Object.entries(COMMAND_FLAGS).filter(([, names]) =>
      (names as readonly string[]).includes(name!),
    );
    const own = COMMAND_FLAGS[command] as readonly string[] | undefined; // none: `dead-letters --help`
    if (takenBy.length > 0 && own !== undefined && !own.includes(name!))
      throw new WorkerConfigError(
        `${name} is not an option of "dualwrite ${command}" (only of ${takenBy.map(([c]) => `"dualwrite ${c}"`).join(', ')})`,
      );
    if (name === '--json') flags.json = true;
    else if (name === '--dry-run') flags.dryRun = true;
    else if (name === '--after') flags.after = value();
    else if (name === '--id') flags.ids.push(value());
    else if (name === '--limit') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1 || n > 10_000)
        throw new WorkerConfigError(`--limit must be an integer in 1..10000, got ${JSON.stringify(args[i])}`);
      flags.limit = n;
    } else rest.push(arg);
  }
  return { flags, rest };
}

async function status(dw: DualWrite, relational: RelationalStore, flags: OperatorFlags, io: OperatorIo) {
  const stats = await dw.stats();
  const binding = (await readBinding(relational)) ?? null;
  const sourceToken = (await relational.getMeta(SOURCE_TOKEN_KEY)) ?? null;
  const report = {
    relational: stats.relational,
    vector: stats.vector,
    outboxDepth: stats.outboxDepth,
    inFlight: stats.inFlight,
    deadLetters: stats.deadLetters,
    oldestPendingAgeMs: stats.oldestPendingAgeMs,
    indexDrift: stats.indexDrift,
    binding,
    sourceToken,
  };
  if (flags.json) io.out(`${JSON.stringify(report)}\n`);
  else {
    const table = newTable(io);
    table.push(
      { 'outbox depth': String(report.outboxDepth) },
      { 'in flight (leased)': String(report.inFlight) },
      { 'dead letters': String(report.deadLetters) },
      { 'oldest pending': `${(report.oldestPendingAgeMs / 1000).toFixed(1)} s` },
      { 'index drift': report.indexDrift ? report.indexDrift.reason : 'none' },
      {
        'bound to': binding
          ? `${binding.backend} "${binding.collection}" at ${binding.location} (${binding.dimension}-d, instance ${binding.instanceId ?? '-'}, embedder ${binding.embedder ?? '-'})`
          : 'not bound yet',
      },
      { 'owner token': report.sourceToken ?? 'none yet (drawn at the first start)' },
    );
    io.out(`${table.toString()}\n`);
  }
  return 0;
}

/** What the repair after a rebind found and enqueued (the facade's `index-repaired` event). */
type IndexRepair = DualwriteEventMap['index-repaired'];

/**
 * Waits for the repair a rebind started at open (it runs in the background, like a worker's) to enqueue its
 * repairs, and returns its report — none when the binding was already this configuration's.
 */
async function repairAfterRebind(dw: DualWrite): Promise<IndexRepair[]> {
  const repairs: IndexRepair[] = [];
  dw.events.on('index-repaired', (r) => repairs.push(r));
  const left = await dw.checkIndex();
  if (left !== null) throw new Error(`the repair after the rebind did not finish: ${left.reason}`);
  return repairs;
}

async function reconcileCommand(
  dw: DualWrite,
  relational: RelationalStore,
  vector: VectorStore,
  flags: OperatorFlags,
  io: OperatorIo,
  rebound: readonly IndexRepair[],
) {
  const bar =
    io.isTTY && !flags.json
      ? new cliProgress.SingleBar(
          { format: 'reconcile [{bar}] {value}/{total} ids', stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(await estimate(relational, vector), 0);
  const report = await dw.reconcile({
    dryRun: flags.dryRun,
    onProgress: (p) => bar?.update(p.checkedRecords + p.checkedVectors),
  });
  bar?.stop();
  if (flags.json) io.out(`${JSON.stringify(rebound.length > 0 ? { ...report, rebound } : report)}\n`);
  else {
    for (const r of rebound)
      io.out(
        `${r.reason}: the repair enqueued ${r.repairsEnqueued} (missing ${r.missing}, stale ${r.stale}, ` +
          `mismatched ${r.mismatched}, orphans ${r.orphans}); the reconcile below found what is left\n`,
      );
    const table = newTable(io, ['', flags.dryRun ? 'found (dry run)' : 'found']);
    for (const key of [
      'missing',
      'stale',
      'mismatched',
      'orphans',
      'duplicates',
      'deadLettered',
      'repairsEnqueued',
      'tombstonesPurged',
    ] as const)
      table.push({ [key]: String(report[key]) });
    table.push({
      checked: `${report.checkedRecords} records, ${report.checkedVectors} vectors${report.contentChecked ? ' (content compared)' : ' (ids and versions only)'}`,
    });
    io.out(`${table.toString()}\n`);
  }
  return 0;
}

/** A table for `io`: colours only on a terminal. */
function newTable(io: OperatorIo, head?: string[]): InstanceType<typeof Table> {
  return new Table({ ...(head ? { head } : {}), ...(io.isTTY ? {} : { style: { head: [], border: [] } }) });
}

/** Ids a full reconcile visits: records (tombstones included) plus vectors, for the progress bar. */
async function estimate(relational: RelationalStore, vector: VectorStore): Promise<number> {
  return (await countLiveRecords(relational)) + (await vector.count());
}

async function verify(
  relational: RelationalStore,
  vector: VectorStore,
  flags: OperatorFlags,
  io: OperatorIo,
) {
  const report = await verifyConsistency(relational, vector);
  const consistent =
    report.lost + report.stale + report.mismatched + report.orphans + report.duplicates === 0;
  // What the outbox still holds explains differences that are not lost (helper-58: a pending write read "lost").
  const { depth: pending, deadLetters } = await relational.outboxStats(Date.now());
  if (flags.json) io.out(`${JSON.stringify({ consistent, ...report, outbox: { pending, deadLetters } })}\n`);
  else
    io.out(
      `${consistent ? 'consistent' : 'NOT consistent'}: ${report.records} live records, ${report.vectors} vectors; ` +
        `not indexed ${report.lost}, stale ${report.stale}, other content ${report.mismatched}, orphans ${report.orphans}, ` +
        `duplicates ${report.duplicates}${report.contentChecked ? '' : ' (ids and versions only: the index cannot read rows back)'}\n` +
        (consistent || pending + deadLetters === 0
          ? ''
          : `the outbox holds ${pending} pending and ${deadLetters} dead-lettered change(s): differences they ` +
            'explain are queued, not lost (verify again once the workers drained; dead letters: ' +
            '`dualwrite dead-letters list`)\n'),
    );
  return consistent ? 0 : 1;
}

async function listDeadLetters(dw: DualWrite, flags: OperatorFlags, io: OperatorIo) {
  const entries = await dw.listDeadLetters({ after: flags.after, limit: flags.limit });
  if (flags.json) io.out(`${JSON.stringify(entries)}\n`);
  else if (entries.length === 0) io.out('no dead letters\n');
  else {
    const table = newTable(io, ['id', 'version', 'op', 'attempts', 'last error']);
    for (const e of entries)
      table.push([e.id, String(e.version), e.op, String(e.attempts), (e.lastError ?? '').slice(0, 120)]);
    io.out(`${table.toString()}\n`);
  }
  return 0;
}

async function requeue(dw: DualWrite, flags: OperatorFlags, io: OperatorIo) {
  const requeued = await dw.requeueDeadLetters(flags.ids.length > 0 ? flags.ids : undefined);
  io.out(flags.json ? `${JSON.stringify({ requeued })}\n` : `requeued ${requeued} dead letter(s)\n`);
  return 0;
}
