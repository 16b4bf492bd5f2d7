/**
 * The `dualwrite-worker` bin, run from TypeScript source through tsx: it drains an outbox another process
 * wrote (PostgreSQL and SQLite, into LanceDB), logs one JSON line per synced batch, and exits 0 on SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDualWrite, HashingEmbedder, type RelationalStore, verifyConsistency } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { MysqlRelationalStore } from '@dualwrite/mysql';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';

const APP_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const DATABASE_URL = process.env.DUALWRITE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.DUALWRITE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const DIMENSION = 8;

interface LogLine {
  level: number;
  event?: string;
  count?: number;
  [key: string]: unknown;
}

function startCli(env: Record<string, string>): {
  child: ChildProcess;
  lines: LogLine[];
  stderr: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', CLI], {
    cwd: APP_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: LogLine[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part) as LogLine);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  // 'close', not 'exit': a child's stdout may still hold its last lines when 'exit' fires (Node docs,
  // child_process "Event: 'exit'"), and a test read 'stopping' as the last line of a worker that logged 'stopped'.
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, exit };
}

/** A TCP port nothing listens on (taken from the OS, then released). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('dualwrite-worker', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  for (const kind of ['postgres', 'mysql', 'sqlite'] as const) {
    it(`drains an outbox written by another process (${kind} + lancedb) and exits 0 on SIGTERM`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dw-worker-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const schema = `dw_test_${randomBytes(6).toString('hex')}`;
      const env: Record<string, string> = {
        DUALWRITE_RELATIONAL: kind,
        DUALWRITE_DATA_DIR: dir,
        DUALWRITE_EMBEDDING_DIMENSION: String(DIMENSION),
        DUALWRITE_STRATEGY: 'batch',
        DUALWRITE_POLL_INTERVAL_MS: '60000',
        DUALWRITE_STATS_INTERVAL_MS: '0',
      };
      let relational: RelationalStore;
      if (kind === 'postgres') {
        Object.assign(env, { DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL, DUALWRITE_PG_SCHEMA: schema });
        relational = new PostgresRelationalStore({ connectionString: DATABASE_URL, schema });
        cleanups.push(async () => {
          const client = new pg.Client({ connectionString: DATABASE_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        });
      } else if (kind === 'mysql') {
        const admin = async (text: string) => {
          const connection = await createConnection({ uri: MYSQL_URL });
          await connection.query(text).finally(() => connection.end());
        };
        await admin(`CREATE DATABASE \`${schema}\``);
        cleanups.push(() => admin(`DROP DATABASE IF EXISTS \`${schema}\``));
        Object.assign(env, { DATABASE_URL: `${MYSQL_URL}/${schema}` });
        relational = new MysqlRelationalStore({ connectionString: `${MYSQL_URL}/${schema}` });
      } else {
        relational = new SqliteRelationalStore({ path: join(dir, 'dualwrite.sqlite') });
      }
      const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lancedb'), dimension: DIMENSION });
      const api = await createDualWrite({
        relational,
        vector,
        embedder: new HashingEmbedder({ dimension: DIMENSION }),
        strategy: 'batch',
      });
      cleanups.push(async () => {
        await api.close({ drain: false });
      });
      api.pause(); // the API process only writes
      // pause() does not recall a claim its drainer issued just before: let it finish on the empty outbox.
      await new Promise((r) => setTimeout(r, 200));
      await api.putMany(Array.from({ length: 30 }, (_, i) => ({ id: `early-${i}`, text: `early ${i}` })));

      const cli = startCli(env);
      cleanups.push(async () => {
        if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      });
      await until(
        'the start line',
        () => cli.lines.some((l) => l.event === 'started') || cli.child.exitCode !== null,
      );
      expect(cli.child.exitCode, cli.stderr()).toBeNull();
      await api.flush({ timeoutMs: 20_000 });
      // Written while the worker idles: PostgreSQL wakes it by NOTIFY (its poll interval is 60 s).
      if (kind === 'postgres') {
        await api.put({ id: 'late', text: 'written while the worker was idle' });
        await api.delete('early-0');
        await api.awaitSynced(['late', 'early-0'], { timeoutMs: 5_000 });
      }
      const report = await verifyConsistency(relational, vector);
      expect(report).toMatchObject({ lost: 0, stale: 0, mismatched: 0, orphans: 0 });
      const synced = cli.lines.filter((l) => l.event === 'synced');
      expect(synced.length).toBeGreaterThan(0);
      expect(synced.reduce((n, l) => n + (l.count ?? 0), 0)).toBeGreaterThanOrEqual(30);

      cli.child.kill('SIGTERM');
      expect(await cli.exit, cli.stderr()).toBe(0);
      expect(cli.lines.at(-1)).toMatchObject({ event: 'stopped', remaining: 0 });
    });
  }

  it('keeps retrying a start while the database is unreachable, and starts once it answers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-worker-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // A port with nothing behind it yet; later a forwarder to the real server (the database "comes up").
    const port = await freePort();
    const schema = `dw_worker_late_${randomBytes(4).toString('hex')}`;
    const worker = startCli({
      DUALWRITE_RELATIONAL: 'postgres',
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`,
      DUALWRITE_PG_SCHEMA: schema,
      DUALWRITE_DATA_DIR: dir,
      DUALWRITE_EMBEDDING_DIMENSION: '8',
      DUALWRITE_START_TIMEOUT_MS: '60000',
    });
    cleanups.push(async () => {
      worker.child.kill('SIGKILL');
      const admin = new pg.Client({ connectionString: DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    });
    await until('two start retries', () => worker.lines.filter((l) => l.event === 'start-retry').length >= 2);
    const server = new URL(DATABASE_URL);
    const forwarder = net.createServer((socket) => {
      const upstream = net.connect(Number(server.port || 5432), server.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => forwarder.close(() => resolve())));
    await until('started', () => worker.lines.some((l) => l.event === 'started'));
    worker.child.kill('SIGTERM');
    expect(await worker.exit).toBe(0);
  });

  it('exits 1 with a start-failed line when the database is unreachable or the SQLite file missing, 2 on bad flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-worker-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const down = startCli({
      DUALWRITE_RELATIONAL: 'postgres',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test',
      DUALWRITE_DATA_DIR: dir,
      DUALWRITE_EMBEDDING_DIMENSION: '8',
      // Long enough for a retry even when the first attempt (loading the adapters) is slow on a busy machine.
      DUALWRITE_START_TIMEOUT_MS: '4000',
    });
    const bad = startCli({ DUALWRITE_EMBEDDING_DIMENSION: 'eight' });
    // A SQLite file that does not exist: refuse, instead of creating an empty database and draining it for ever.
    const missing = startCli({
      DUALWRITE_RELATIONAL: 'sqlite',
      DUALWRITE_DATA_DIR: join(dir, 'nothing-here'),
      DUALWRITE_EMBEDDING_DIMENSION: '8',
      DUALWRITE_START_TIMEOUT_MS: '0',
    });
    expect(await down.exit).toBe(1);
    expect(down.lines.at(-1)).toMatchObject({ event: 'start-failed' });
    expect(
      down.lines.filter((l) => l.event === 'start-retry').length,
      'retried until --start-timeout-ms',
    ).toBeGreaterThan(0);
    expect(JSON.stringify(down.lines.at(-1))).toMatch(/cannot connect to PostgreSQL at 127\.0\.0\.1:1\/test/);
    expect(await missing.exit).toBe(1);
    expect(JSON.stringify(missing.lines.at(-1))).toMatch(/does not exist and options.create is false/);
    expect(existsSync(join(dir, 'nothing-here')), 'nothing was created').toBe(false);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toMatch(/embedder\.dimension \(from env DUALWRITE_EMBEDDING_DIMENSION\)/);
  });
});
