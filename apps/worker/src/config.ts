import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';

/** Relational backends the worker drains. */
export const RELATIONAL_KINDS = ['sqlite', 'postgres'] as const;
/** Vector backends the worker delivers to. */
export const VECTOR_KINDS = ['lancedb', 'chroma'] as const;
/** Strategies with a drain loop (`sync-2pc` writes inline and has nothing for a worker to drain). */
export const WORKER_STRATEGIES = ['async-queue', 'batch'] as const;
/** Embedders the worker can run for records written without an embedding. */
export const EMBEDDER_KINDS = ['hashing', 'none'] as const;
/** pino levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The resolved configuration of one worker process. Times in ms. */
export interface WorkerConfig {
  relational: (typeof RELATIONAL_KINDS)[number];
  /** PostgreSQL URL (`postgres` only). */
  databaseUrl: string | undefined;
  /** PostgreSQL schema of the store's tables. Default `public`. */
  pgSchema: string;
  /** Table prefix (both relational backends). Default `dw_`. */
  tablePrefix: string;
  /** PostgreSQL pool size. Default 4. */
  pgPoolSize: number;
  /** SQLite file (`sqlite` only). Default `<dataDir>/dualwrite.sqlite`. */
  sqlitePath: string;
  vector: (typeof VECTOR_KINDS)[number];
  /** Home of the SQLite file and the LanceDB directory. Default `./data`. */
  dataDir: string;
  /** LanceDB directory. Default `<dataDir>/lancedb`. */
  lancedbDir: string;
  /** Chroma server URL. Default `http://127.0.0.1:8000`. */
  chromaUrl: string;
  /** LanceDB table / Chroma collection. Default `dualwrite`. */
  collection: string;
  /** Vector dimension; must match the index and the embedder. */
  dimension: number;
  embedder: (typeof EMBEDDER_KINDS)[number];
  strategy: (typeof WORKER_STRATEGIES)[number];
  /** Deliveries (async-queue) or batches (batch) in flight in this process. */
  concurrency: number;
  /** `batch`: most changes per vector call. */
  batchSize: number;
  /** `batch`: longest wait for a batch to fill. */
  maxDelayMs: number;
  /** How often an idle worker polls (LISTEN/NOTIFY wakes PostgreSQL workers sooner). */
  pollIntervalMs: number;
  leaseMs: number;
  maxAttempts: number;
  /** Lease owner recorded on claimed entries. Default `<host>:<pid>`. */
  owner: string;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Interval of the `stats` log line; 0 disables it. */
  statsIntervalMs: number;
  /** Longest wait for in-flight deliveries on SIGTERM/SIGINT before leaving their leases to expire. */
  shutdownTimeoutMs: number;
}

/** Invalid command line or environment. `exitCode` is 2 for usage errors, 0 for `--help` / `--version`. */
export class WorkerConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'WorkerConfigError';
  }
}

const int = (name: string, min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new WorkerConfigError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
};

/**
 * The command: every option has a flag and, where it makes sense, an environment variable. Flags win over
 * the environment, which wins over the defaults.
 */
export function workerCommand(): Command {
  return new Command('dualwrite-worker')
    .description(
      'Runs only the dualwrite outbox drain loop: claims pending changes from the relational store and applies ' +
        'them to the vector index. Start as many as you like (on PostgreSQL they share the outbox with ' +
        'FOR UPDATE SKIP LOCKED). Never accepts writes. Stops on SIGTERM/SIGINT.',
    )
    .version('0.1.0')
    .addOption(
      new Option(
        '--relational <kind>',
        'relational backend (default: postgres when DATABASE_URL is set, else sqlite)',
      )
        .choices(RELATIONAL_KINDS)
        .env('DUALWRITE_RELATIONAL'),
    )
    .addOption(new Option('--database-url <url>', 'PostgreSQL connection URL').env('DATABASE_URL'))
    .addOption(
      new Option('--pg-schema <name>', 'PostgreSQL schema').env('DUALWRITE_PG_SCHEMA').default('public'),
    )
    .addOption(
      new Option('--table-prefix <prefix>', 'table prefix').env('DUALWRITE_TABLE_PREFIX').default('dw_'),
    )
    .addOption(
      new Option('--pg-pool-size <n>', 'PostgreSQL pool size')
        .env('DUALWRITE_PG_POOL_SIZE')
        .argParser(int('--pg-pool-size', 1, 1_000))
        .default(4),
    )
    .addOption(
      new Option('--sqlite-path <file>', 'SQLite file (default <data-dir>/dualwrite.sqlite)').env(
        'DUALWRITE_SQLITE_PATH',
      ),
    )
    .addOption(
      new Option('--vector <kind>', 'vector backend')
        .choices(VECTOR_KINDS)
        .env('DUALWRITE_VECTOR')
        .default('lancedb'),
    )
    .addOption(
      new Option('--data-dir <dir>', 'home of the SQLite file and LanceDB directory')
        .env('DUALWRITE_DATA_DIR')
        .default('./data'),
    )
    .addOption(
      new Option('--lancedb-dir <dir>', 'LanceDB directory (default <data-dir>/lancedb)').env(
        'DUALWRITE_LANCEDB_DIR',
      ),
    )
    .addOption(
      new Option('--chroma-url <url>', 'Chroma server URL')
        .env('CHROMA_URL')
        .default('http://127.0.0.1:8000'),
    )
    .addOption(
      new Option('--collection <name>', 'LanceDB table / Chroma collection')
        .env('DUALWRITE_COLLECTION')
        .default('dualwrite'),
    )
    .addOption(
      new Option('--dim <n>', 'vector dimension (must match the index)')
        .env('DUALWRITE_EMBEDDING_DIMENSION')
        .argParser(int('--dim', 1, 65_536)),
    )
    .addOption(
      new Option('--embedder <kind>', 'embedder for records written without an embedding')
        .choices(EMBEDDER_KINDS)
        .env('DUALWRITE_EMBEDDER')
        .default('hashing'),
    )
    .addOption(
      new Option('--strategy <name>', 'drain strategy')
        .choices(WORKER_STRATEGIES)
        .env('DUALWRITE_STRATEGY')
        .default('batch'),
    )
    .addOption(
      new Option('--concurrency <n>', 'deliveries (async-queue) or batches (batch) in flight')
        .env('DUALWRITE_CONCURRENCY')
        .argParser(int('--concurrency', 1, 64)),
    )
    .addOption(
      new Option('--batch-size <n>', 'batch: most changes per vector call')
        .env('DUALWRITE_BATCH_SIZE')
        .argParser(int('--batch-size', 1, 10_000))
        .default(100),
    )
    .addOption(
      new Option('--max-delay-ms <ms>', 'batch: longest wait for a batch to fill')
        .env('DUALWRITE_MAX_DELAY_MS')
        .argParser(int('--max-delay-ms', 0, 60_000))
        .default(50),
    )
    .addOption(
      new Option('--poll-interval-ms <ms>', 'idle poll interval (PostgreSQL workers are woken by NOTIFY)')
        .env('DUALWRITE_POLL_INTERVAL_MS')
        .argParser(int('--poll-interval-ms', 1, 3_600_000)),
    )
    .addOption(
      new Option('--lease-ms <ms>', 'lease length per claimed change')
        .env('DUALWRITE_LEASE_MS')
        .argParser(int('--lease-ms', 100, 3_600_000))
        .default(30_000),
    )
    .addOption(
      new Option('--max-attempts <n>', 'charged attempts before dead letter')
        .env('DUALWRITE_MAX_ATTEMPTS')
        .argParser(int('--max-attempts', 1, 1_000))
        .default(8),
    )
    .addOption(new Option('--owner <id>', 'lease owner (default <host>:<pid>)').env('DUALWRITE_WORKER_ID'))
    .addOption(
      new Option('--log-level <level>', 'pino log level')
        .choices(LOG_LEVELS)
        .env('LOG_LEVEL')
        .default('info'),
    )
    .addOption(
      new Option('--stats-interval-ms <ms>', 'interval of the stats log line, 0 = off')
        .env('DUALWRITE_STATS_INTERVAL_MS')
        .argParser(int('--stats-interval-ms', 0, 86_400_000))
        .default(60_000),
    )
    .addOption(
      new Option('--shutdown-timeout-ms <ms>', 'wait for in-flight deliveries on SIGTERM/SIGINT')
        .env('DUALWRITE_SHUTDOWN_TIMEOUT_MS')
        .argParser(int('--shutdown-timeout-ms', 0, 600_000))
        .default(10_000),
    );
}

interface RawOptions {
  relational?: WorkerConfig['relational'];
  databaseUrl?: string;
  pgSchema: string;
  tablePrefix: string;
  pgPoolSize: number;
  sqlitePath?: string;
  vector: WorkerConfig['vector'];
  dataDir: string;
  lancedbDir?: string;
  chromaUrl: string;
  collection: string;
  dim?: number;
  embedder: WorkerConfig['embedder'];
  strategy: WorkerConfig['strategy'];
  concurrency?: number;
  batchSize: number;
  maxDelayMs: number;
  pollIntervalMs?: number;
  leaseMs: number;
  maxAttempts: number;
  owner?: string;
  logLevel: WorkerConfig['logLevel'];
  statsIntervalMs: number;
  shutdownTimeoutMs: number;
}

/**
 * Parses the command line (`argv` as in `process.argv`, program name included) and environment.
 * @throws {WorkerConfigError} for an unknown or invalid option, a missing `--dim`, or `postgres` without a
 *   URL (exit code 2); for `--help` / `--version` after printing them (exit code 0).
 */
export function parseWorkerConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  output: { writeOut?: (s: string) => void; writeErr?: (s: string) => void } = {},
): WorkerConfig {
  const command = workerCommand()
    .exitOverride()
    .configureOutput({
      writeOut: output.writeOut ?? ((s) => process.stdout.write(s)),
      writeErr: output.writeErr ?? ((s) => process.stderr.write(s)),
    });
  // commander reads option env vars from process.env; run it against the given environment.
  const saved = process.env;
  process.env = env;
  let o: RawOptions;
  try {
    command.parse([...argv]);
    o = command.opts<RawOptions>();
  } catch (error) {
    if (error instanceof WorkerConfigError) throw error;
    if (error instanceof CommanderError)
      throw new WorkerConfigError(error.message, error.exitCode === 0 ? 0 : 2);
    throw error;
  } finally {
    process.env = saved;
  }

  const relational = o.relational ?? (o.databaseUrl ? 'postgres' : 'sqlite');
  if (relational === 'postgres' && !o.databaseUrl)
    throw new WorkerConfigError('--database-url (DATABASE_URL) is required for --relational postgres');
  if (o.dim === undefined)
    throw new WorkerConfigError(
      '--dim (DUALWRITE_EMBEDDING_DIMENSION) is required: the vector dimension of the index',
    );
  const dataDir = resolve(o.dataDir);
  return {
    relational,
    databaseUrl: o.databaseUrl,
    pgSchema: o.pgSchema,
    tablePrefix: o.tablePrefix,
    pgPoolSize: o.pgPoolSize,
    sqlitePath: o.sqlitePath === undefined ? join(dataDir, 'dualwrite.sqlite') : resolve(o.sqlitePath),
    vector: o.vector,
    dataDir,
    lancedbDir: o.lancedbDir === undefined ? join(dataDir, 'lancedb') : resolve(o.lancedbDir),
    chromaUrl: o.chromaUrl,
    collection: o.collection,
    dimension: o.dim,
    embedder: o.embedder,
    strategy: o.strategy,
    concurrency: o.concurrency ?? (o.strategy === 'batch' ? 1 : 4),
    batchSize: o.batchSize,
    maxDelayMs: o.maxDelayMs,
    pollIntervalMs: o.pollIntervalMs ?? (relational === 'postgres' ? 5_000 : 200),
    leaseMs: o.leaseMs,
    maxAttempts: o.maxAttempts,
    owner: o.owner ?? `${hostname()}:${process.pid}`,
    logLevel: o.logLevel,
    statsIntervalMs: o.statsIntervalMs,
    shutdownTimeoutMs: o.shutdownTimeoutMs,
  };
}

/** The configuration with secrets masked (the password of `databaseUrl`), for the start log line. */
export function describeConfig(config: WorkerConfig): Record<string, unknown> {
  let databaseUrl = config.databaseUrl;
  if (databaseUrl !== undefined)
    try {
      const url = new URL(databaseUrl);
      if (url.password) url.password = '***';
      databaseUrl = url.toString();
    } catch {
      databaseUrl = '(unparsable URL)';
    }
  return { ...config, databaseUrl };
}
