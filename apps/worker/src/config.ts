import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import {
  BACKEND_SETTINGS,
  BackendSections,
  ConfigError,
  DEFAULT_BACKEND_CONFIG,
  LOG_LEVELS,
  loadConfig,
  type Resolved,
  type Setting,
} from '@dualwrite/config';
import { Command, CommanderError, Option } from 'commander';
import Type, { type Static } from 'typebox';

/** Strategies with a drain loop (`sync-2pc` writes inline and has nothing for a worker to drain). */
export const WORKER_STRATEGIES = ['async-queue', 'batch'] as const;

const strict = { additionalProperties: false } as const;

/** The worker's own section, next to the shared ones of `@dualwrite/config`. */
const WorkerSectionSchema = Type.Object(
  {
    /** Lease owner recorded on claimed entries. Default `<host>:<pid>`. */
    owner: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    logLevel: Type.Enum([...LOG_LEVELS]),
    /** Interval of the `stats` log line, ms; 0 disables it. Default 60,000. */
    statsIntervalMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
    /** Longest wait for in-flight deliveries on SIGTERM/SIGINT before leaving their leases to expire, ms. */
    shutdownTimeoutMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
    /**
     * How long the worker keeps retrying a start that failed on an unreachable or restarting backend (a
     * retryable error), ms; 0 fails at once. Default 30,000.
     */
    startTimeoutMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
  },
  strict,
);

/** The worker's whole configuration as one JSON Schema: the shared sections plus `worker`. */
export const WorkerConfigSchema = Type.Object({ ...BackendSections, worker: WorkerSectionSchema }, strict);

type WorkerConfigInput = Static<typeof WorkerConfigSchema>;

/** The resolved configuration of one worker or operator command. Times in ms. */
export type WorkerConfig = Resolved<WorkerConfigInput> & {
  worker: WorkerConfigInput['worker'] & { owner: string };
};

const DEFAULTS: WorkerConfigInput = {
  ...DEFAULT_BACKEND_CONFIG,
  worker: { logLevel: 'info', statsIntervalMs: 60_000, shutdownTimeoutMs: 10_000, startTimeoutMs: 30_000 },
};

/** The worker's own settings; the shared ones (`BACKEND_SETTINGS`) have the same names in every process. */
export const WORKER_SETTINGS: readonly Setting[] = [
  {
    key: 'worker.owner',
    env: 'DUALWRITE_WORKER_ID',
    flag: 'owner',
    kind: 'string',
    help: 'lease owner (default <host>:<pid>)',
  },
  {
    key: 'worker.logLevel',
    env: 'LOG_LEVEL',
    flag: 'log-level',
    kind: 'string',
    help: `pino log level: ${LOG_LEVELS.join(' | ')} (default info)`,
  },
  {
    key: 'worker.statsIntervalMs',
    env: 'DUALWRITE_STATS_INTERVAL_MS',
    flag: 'stats-interval-ms',
    kind: 'integer',
    help: 'interval of the stats log line, ms, 0 = off (default 60000)',
  },
  {
    key: 'worker.shutdownTimeoutMs',
    env: 'DUALWRITE_SHUTDOWN_TIMEOUT_MS',
    flag: 'shutdown-timeout-ms',
    kind: 'integer',
    help: 'wait for in-flight deliveries on SIGTERM/SIGINT, ms (default 10000)',
  },
  {
    key: 'worker.startTimeoutMs',
    env: 'DUALWRITE_START_TIMEOUT_MS',
    flag: 'start-timeout-ms',
    kind: 'integer',
    help: 'keep retrying a start that fails on an unreachable backend for this long, ms, 0 = fail at once (default 30000)',
  },
];

const SETTINGS = [...BACKEND_SETTINGS, ...WORKER_SETTINGS];

/** Invalid command line, environment or config file. `exitCode` is 2 for usage errors, 0 for `--help` / `--version`. */
export class WorkerConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WorkerConfigError';
  }
}

/** This package's version, as `--version` prints it (read from its package.json). */
export const CLI_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version;

/** How a command built on the worker's flags introduces itself in `--help`. */
export interface CommandHelp {
  /** Usage name, e.g. `dualwrite status`. */
  name: string;
  /** What the command does (the first paragraph of its help). */
  description: string;
  /**
   * The command's own flags, `[flags, description]` (commander's syntax: `--limit <n>`), listed in the help;
   * the caller takes them out of the command line before parsing, so here they only let a misspelled one be
   * answered with the flag meant.
   */
  options?: readonly (readonly [string, string])[];
}

const WORKER_HELP: CommandHelp = {
  name: 'dualwrite-worker',
  description:
    'Runs only the dualwrite outbox drain loop: claims pending changes from the relational store and applies ' +
    'them to the vector index. Start as many as you like (on PostgreSQL they share the outbox with ' +
    'FOR UPDATE SKIP LOCKED). Never accepts writes. Stops on SIGTERM/SIGINT. Precedence: flags, then ' +
    'environment, then the config file, then defaults.',
};

/**
 * The command: one flag per setting of `BACKEND_SETTINGS` and {@link WORKER_SETTINGS} (the help names its
 * environment variable), and `--config <file>`. Values are validated by the shared schema, not here.
 */
export function workerCommand(help: CommandHelp = WORKER_HELP): Command {
  const command = new Command(help.name)
    .description(help.description)
    .version(CLI_VERSION)
    .addOption(
      new Option('-c, --config <file>', 'JSON config file (same keys as the demo API)').env(
        'DUALWRITE_CONFIG',
      ),
    );
  for (const setting of SETTINGS) {
    if (setting.flag === undefined) continue;
    const value = setting.kind === 'integer' ? '<n>' : '<value>';
    command.addOption(
      new Option(
        `--${setting.flag} ${value}`,
        `${setting.help}${setting.env ? ` [env ${setting.env}]` : ''}`,
      ),
    );
  }
  for (const [flags, description] of help.options ?? []) command.addOption(new Option(flags, description));
  return command;
}

/** What the configuration is for: `drain` (the worker) needs a strategy with a drain loop. */
export type WorkerConfigPurpose = 'drain' | 'inspect';

/**
 * Parses the command line (`argv` as in `process.argv`, program name included), the environment and the
 * config file through the shared loader of `@dualwrite/config`.
 * @param help - how `--help` introduces the command (default: the drain worker's).
 * @throws {WorkerConfigError} for an unknown flag (suggesting the flag meant), an invalid value (the message
 *   names the config key and where it came from), or `sync-2pc` for `drain` (exit code 2) — not printed: the
 *   caller prints it once; for `--help` / `--version` after printing them (exit code 0).
 */
export function parseWorkerConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  output: { writeOut?: (s: string) => void; writeErr?: (s: string) => void } = {},
  purpose: WorkerConfigPurpose = 'drain',
  help?: CommandHelp,
): WorkerConfig {
  const command = workerCommand(help)
    .exitOverride()
    .configureOutput({
      writeOut: output.writeOut ?? ((s) => process.stdout.write(s)),
      writeErr: output.writeErr ?? ((s) => process.stderr.write(s)),
      outputError: () => {}, // the error is thrown, and its catcher prints it once
    });
  // commander reads `--config`'s env var from process.env; run it against the given environment.
  const saved = process.env;
  process.env = env;
  const flags: Record<string, string | undefined> = {};
  let configFile: string | undefined;
  try {
    command.parse([...argv]);
    for (const option of command.options) {
      const value = command.getOptionValue(option.attributeName());
      if (typeof value !== 'string') continue;
      if (option.long === '--config') configFile = value;
      else flags[option.long!.slice(2)] = value;
    }
  } catch (error) {
    if (error instanceof CommanderError)
      throw new WorkerConfigError(error.message, error.exitCode === 0 ? 0 : 2, { cause: error });
    throw error;
  } finally {
    process.env = saved;
  }

  try {
    const config = loadConfig<WorkerConfigInput>(
      {
        schema: WorkerConfigSchema,
        defaults: DEFAULTS,
        settings: SETTINGS,
        // The demo API's sections, so one file can configure both.
        ignoreSections: ['server', 'backpressure', 'shutdown'],
        check(c, fail) {
          if (purpose === 'drain' && !(WORKER_STRATEGIES as readonly string[]).includes(c.strategy.name))
            fail(
              'strategy.name',
              `must be "async-queue" or "batch" for a drain worker, got "${c.strategy.name}"`,
            );
        },
      },
      { configFile, env, flags },
    );
    return {
      ...config,
      worker: { ...config.worker, owner: config.worker.owner ?? `${hostname()}:${process.pid}` },
    };
  } catch (error) {
    if (error instanceof ConfigError) throw new WorkerConfigError(error.message, 2, { cause: error });
    throw error;
  }
}
