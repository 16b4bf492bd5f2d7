/**
 * A private, throw-away MariaDB server for tests that need server-wide settings the shared test server must
 * not get (`sql_mode`, default isolation, `autocommit`, timeouts): `mariadb-install-db` into a temp dir,
 * `mariadbd` on a free port of 127.0.0.1 with the given options, root without a password. Uses Debian's
 * binaries (`scripts/ci/ensure-mariadb.sh` installs them).
 *
 * @packageDocumentation
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@dualwrite/sql/testing';
import { createConnection } from 'mysql2/promise';

const run = promisify(execFile);

/** A running private server. */
export interface PrivateMariadb {
  /** `mysql://root@127.0.0.1:<port>` (no database selected). */
  readonly url: string;
  /**
   * Stops the server with `signal` (`SIGTERM`: a clean shutdown; `SIGKILL`: a crash, recovered at start), waits
   * `downMs`, and starts it again on the same port and data; resolves once it accepts connections.
   * @returns how long it did not accept connections, ms.
   */
  restart(signal: 'SIGTERM' | 'SIGKILL', downMs: number): Promise<number>;
  /** Stops the server and removes its files. */
  destroy(): Promise<void>;
}

async function accepts(url: string): Promise<boolean> {
  try {
    const connection = await createConnection({ uri: url, connectTimeout: 1_000 });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a private server with `serverOptions` (`mariadbd` command-line options, e.g.
 * `['--sql-mode=NO_BACKSLASH_ESCAPES']`); resolves once it accepts connections.
 * @throws {Error} when the binaries are missing or the server does not start within 60 s (with its log).
 */
export async function startPrivateMariadb(serverOptions: readonly string[] = []): Promise<PrivateMariadb> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-mariadb-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${data}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...asRoot,
  ]);
  const port = await freePort();
  const url = `mysql://root@127.0.0.1:${port}`;
  const spawnServer = (): ChildProcess =>
    spawn(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${data}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(dir, 'sock')}`,
        `--log-error=${join(dir, 'error.log')}`,
        '--innodb-flush-log-at-trx-commit=0',
        ...asRoot,
        ...serverOptions,
      ],
      { stdio: 'ignore' },
    );
  let server = spawnServer();
  const stop = async (signal: NodeJS.Signals) => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  };
  /** Resolves once the server accepts connections; `false` if it exited or 60 s passed. */
  const ready = async () => {
    for (const started = Date.now(); Date.now() - started < 60_000; ) {
      if (await accepts(url)) return true;
      if (server.exitCode !== null) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };
  const destroy = async () => {
    await stop('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  };
  const restart = async (signal: 'SIGTERM' | 'SIGKILL', downMs: number) => {
    const stopping = Date.now();
    await stop(signal);
    await new Promise((r) => setTimeout(r, downMs));
    server = spawnServer();
    if (!(await ready())) throw new Error(`private MariaDB did not come back on port ${port}`);
    return Date.now() - stopping;
  };
  if (await ready()) return { url, restart, destroy };
  const log = await run('tail', ['-n', '20', join(dir, 'error.log')]).then(
    (r) => r.stdout,
    () => '',
  );
  await destroy();
  throw new Error(`private MariaDB did not start on port ${port}:\n${log}`);
}
