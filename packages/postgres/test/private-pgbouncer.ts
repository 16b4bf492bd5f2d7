/**
 * A private PgBouncer in front of the test server, for tests of the store behind a connection pooler:
 * Debian's `pgbouncer` (`scripts/ci/ensure-postgres.sh` installs it) on a free port of 127.0.0.1, trust auth,
 * in the given pool mode, forwarding database `test` to the server of {@link DATABASE_URL}. PgBouncer refuses
 * to run as root, so as root it runs as the `postgres` OS user (`runuser`).
 *
 * @packageDocumentation
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@dualwrite/sql/testing';
import pg from 'pg';
import { DATABASE_URL } from './helpers.js';

/** A running private PgBouncer. */
export interface PrivatePgBouncer {
  /** `postgres://postgres@127.0.0.1:<port>/test`: the test database through the pooler. */
  readonly url: string;
  /** Stops the pooler (its server connections close) and removes its files. */
  destroy(): Promise<void>;
}

async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts PgBouncer in `mode` and waits until a query passes through it.
 * @throws {Error} when it does not accept connections within 20 s (with its log).
 */
export async function startPgBouncer(mode: 'session' | 'transaction'): Promise<PrivatePgBouncer> {
  const server = new URL(DATABASE_URL);
  const dir = await mkdtemp(join(tmpdir(), 'dw-pgbouncer-'));
  await chmod(dir, 0o777); // written by the `postgres` user when we are root
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  await writeFile(join(dir, 'users.txt'), '"postgres" ""\n');
  await writeFile(
    ini,
    [
      '[databases]',
      `test = host=${server.hostname} port=${server.port || 5432} dbname=${server.pathname.slice(1)} user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${mode}`,
      'max_client_conn = 200',
      'default_pool_size = 10',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const binary = existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : 'pgbouncer'; // Debian's, off PATH
  const asRoot = process.getuid?.() === 0;
  const pooler: ChildProcess = spawn(
    asRoot ? 'runuser' : binary,
    asRoot ? ['-u', 'postgres', '--', binary, ini] : [ini],
    { stdio: 'ignore' },
  );
  let exited = false;
  pooler.once('exit', () => {
    exited = true;
  });
  const url = `postgres://postgres@127.0.0.1:${port}/test`;
  const destroy = async () => {
    if (!exited) {
      const gone = new Promise((resolve) => pooler.once('exit', resolve));
      pooler.kill('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  while (!(await accepts(url))) {
    if (exited || Date.now() > deadline) {
      const log = await readFile(join(dir, 'pgbouncer.log'), 'utf8').catch(() => '(no log)');
      await destroy();
      throw new Error(`private PgBouncer (${mode}) did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, destroy };
}
