/**
 * A private, throw-away PostgreSQL cluster for tests that restart, stop or crash the server: `initdb` into a
 * temp dir, `pg_ctl start` on a free port of 127.0.0.1 (trust auth, `fsync=off`), and stop / restart / kill
 * / destroy it without touching the machine's shared server. Uses the Debian binaries
 * (`/usr/lib/postgresql/<highest version>/bin`, else `pg_config --bindir`); as root, runs them as the
 * `postgres` OS user (`runuser`), since `initdb` and `postgres` refuse to run as root.
 *
 * @packageDocumentation
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@dualwrite/sql/testing';

const run = promisify(execFile);

/** Where {@link findPostgresBin} looks first: Debian's versioned install directories. */
const DEBIAN_ROOT = '/usr/lib/postgresql';

/**
 * The directory holding `initdb`, `pg_ctl` and `postgres`: the highest-numbered
 * `/usr/lib/postgresql/<version>/bin` that has them, else `pg_config --bindir`.
 * @throws {Error} naming what is missing and how to install it, when no such directory exists.
 */
export function findPostgresBin(): string {
  const has = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)));
  const versions = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) if (has(join(DEBIAN_ROOT, v, 'bin'))) return join(DEBIAN_ROOT, v, 'bin');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (has(dir)) return dir;
  } catch {
    // no pg_config on PATH
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in ${DEBIAN_ROOT}/<version>/bin nor in ` +
      '`pg_config --bindir`. Install them (Debian: `apt-get install postgresql`, as scripts/ci/ensure-postgres.sh does).',
  );
}

/** Options of {@link startPrivatePostgres}. */
export interface PrivatePostgresOptions {
  /** Extra server settings (`-c name=value`), e.g. `{ max_connections: '200' }`. */
  settings?: Record<string, string>;
  /** Longest wait for `pg_ctl start` / `stop`, ms. Default 60,000. */
  timeoutMs?: number;
}

/** A running private cluster (see {@link startPrivatePostgres}). */
export interface PrivatePostgres {
  /** TCP port on 127.0.0.1 (kept across restarts). */
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  readonly url: string;
  /** The temp dir holding the data directory, the socket and the server log. */
  readonly dir: string;
  /** Starts the stopped server; resolves once it accepts connections. Returns how long that took, ms. */
  start(): Promise<number>;
  /**
   * Stops the server: `fast` (default) rolls back open transactions and closes every connection with
   * SQLSTATE 57P01; `immediate` kills it like a crash (crash recovery on the next start). Returns ms taken.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<number>;
  /**
   * Stops (`mode`, default `fast`) and starts again; resolves once the server accepts connections. Returns
   * how long the server was unavailable (from the stop command until it accepted connections again), ms.
   */
  restart(mode?: 'fast' | 'immediate'): Promise<number>;
  /** Crash: `stop('immediate')`. Returns ms taken. */
  kill(): Promise<number>;
  /** The last `lines` lines of the server log (for failure messages). */
  log(lines?: number): Promise<string>;
  /** Stops the server (immediately) if running and removes its directory. Idempotent; never throws. */
  destroy(): Promise<void>;
}

/**
 * Creates and starts a private cluster: `initdb -A trust -U postgres -E UTF8 --locale=C --no-sync` into a
 * new temp dir, then `pg_ctl start -w` on a free port of 127.0.0.1 with its Unix socket in that dir,
 * `fsync=off` and `max_connections=200` (override with `settings`). A process exit hook stops it if the
 * caller never calls {@link PrivatePostgres.destroy}.
 * @throws {Error} when the binaries are missing ({@link findPostgresBin}) or the server does not start
 *   (the message carries the end of its log).
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = findPostgresBin();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'dw-private-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'socket');
  const logFile = join(dir, 'server.log');
  await mkdir(socket);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
    await chown(socket, uid, gid);
  }
  // As root, run as `postgres`; cwd in the temp dir, which that user can enter.
  const tool = (name: string, args: string[]) => {
    const [command, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, name), ...args]]
      : [join(bin, name), args];
    return run(command, argv, { cwd: dir, timeout: timeoutMs, encoding: 'utf8' });
  };
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    fsync: 'off',
    max_connections: '200',
    ...options.settings,
  };
  const serverOptions = [
    `-p ${port}`,
    `-k ${socket}`,
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(' ');
  let running = false;
  const log = async (lines = 40) => {
    const text = await readFile(logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  };
  const withLog = async (what: string, error: unknown) =>
    new Error(
      `private PostgreSQL: ${what} failed: ${(error as Error).message}\n--- server log ---\n${await log()}`,
    );
  const start = async () => {
    const began = Date.now();
    try {
      await tool('pg_ctl', [
        '-D',
        data,
        '-l',
        logFile,
        '-o',
        serverOptions,
        '-w',
        '-t',
        String(Math.ceil(timeoutMs / 1000)),
        'start',
      ]);
    } catch (error) {
      throw await withLog('pg_ctl start', error);
    }
    running = true;
    return Date.now() - began;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    const began = Date.now();
    try {
      await tool('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), 'stop']);
    } catch (error) {
      throw await withLog(`pg_ctl stop -m ${mode}`, error);
    }
    running = false;
    return Date.now() - began;
  };
  // Best effort if the caller never destroys it (e.g. the test process is torn down): no stray server.
  const onExit = () => {
    if (!running) return;
    try {
      const argv = [join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'];
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', ...argv], { stdio: 'ignore' });
      else execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  process.on('exit', onExit);

  try {
    await tool('initdb', [
      '-D',
      data,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  } catch (error) {
    process.off('exit', onExit);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`private PostgreSQL: initdb failed: ${(error as Error).message}`);
  }
  try {
    await start();
  } catch (error) {
    process.off('exit', onExit);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let destroyed = false;
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    start,
    stop,
    async restart(mode = 'fast') {
      const began = Date.now();
      await stop(mode);
      await start();
      return Date.now() - began;
    },
    kill: () => stop('immediate'),
    log,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (running) await stop('immediate').catch(() => {});
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}
