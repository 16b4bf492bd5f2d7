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
  const server: ChildProcess = spawn(
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
  const url = `mysql://root@127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const destroy = async () => {
    if (server.exitCode === null) server.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  for (const started = Date.now(); Date.now() - started < 60_000; ) {
    if (await accepts(url)) return { url, destroy };
    if (server.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const log = await run('tail', ['-n', '20', join(dir, 'error.log')]).then(
    (r) => r.stdout,
    () => '',
  );
  await destroy();
  throw new Error(`private MariaDB did not start on port ${port}:\n${log}`);
}
