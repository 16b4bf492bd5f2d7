/**
 * The `dualwrite` operator CLI against real data: a data directory in the demo API's layout
 * (`<dir>/dualwrite.sqlite`, `<dir>/lancedb`, table `dualwrite`) and a PostgreSQL schema. An application
 * process writes records (one of them poisoned, so it is dead-lettered); `status`, `dead-letters list`,
 * `reconcile --dry-run` and `verify` report what is there; `dead-letters requeue` and a worker fix it; `verify`
 * then exits 0. The commands run in-process (`runOperatorCli`), and once as the real bin.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createDualWrite,
  FaultyVectorStore,
  HashingEmbedder,
  INDEX_BINDING_KEY,
  INDEX_CHECKPOINT_INTENT_KEY,
  INDEX_CHECKPOINT_KEY,
  PermanentBackendError,
  type RelationalStore,
  SOURCE_TOKEN_KEY,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { PostgresRelationalStore } from '@dualwrite/postgres';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { runOperatorCli } from '../src/operator-cli.js';

const APP_ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../src/operator-main.ts', import.meta.url));
const DATABASE_URL = process.env.DUALWRITE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DIMENSION = 8;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Runs `dualwrite <args>` in-process; returns the exit code and what it printed. */
async function cli(args: string[], env: NodeJS.ProcessEnv) {
  let out = '';
  let err = '';
  const code = await runOperatorCli(['node', 'dualwrite', ...args], env, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
  });
  const json = () => JSON.parse(out) as Record<string, unknown> & unknown[];
  return { code, out, err, json };
}

/** An application process: writes 10 records, one poisoned (the index rejects it: dead-lettered). */
async function writeAppData(relational: RelationalStore, lanceDir: string) {
  const faulty = new FaultyVectorStore(
    await LanceDbVectorStore.open({ uri: lanceDir, dimension: DIMENSION }),
  );
  faulty.poisonId('poisoned', () => new PermanentBackendError('rejected by the index', { status: 400 }));
  const app = await createDualWrite({
    relational,
    vector: faulty,
    embedder: new HashingEmbedder({ dimension: DIMENSION }),
    strategy: 'batch',
    driftCheck: false,
  });
  for (let i = 0; i < 9; i++) await app.put({ id: `doc-${i}`, text: `document number ${i}` });
  await app.put({ id: 'poisoned', text: 'the index rejects this one' });
  expect((await app.flush()).deadLetters).toBe(1);
  await app.close();
}

const backends = [
  {
    name: "SQLite + LanceDB (the demo API's data directory)",
    async setup(dir: string): Promise<{ relational: RelationalStore; env: Record<string, string> }> {
      const relational = new SqliteRelationalStore({ path: join(dir, 'dualwrite.sqlite') });
      return { relational, env: { DUALWRITE_RELATIONAL: 'sqlite' } };
    },
  },
  {
    name: 'PostgreSQL schema + LanceDB',
    async setup(_dir: string): Promise<{ relational: RelationalStore; env: Record<string, string> }> {
      const schema = `dw_cli_${randomBytes(6).toString('hex')}`;
      cleanups.push(async () => {
        const client = new pg.Client({ connectionString: DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      });
      const relational = new PostgresRelationalStore({ connectionString: DATABASE_URL, schema });
      return {
        relational,
        env: { DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL, DUALWRITE_PG_SCHEMA: schema },
      };
    },
  },
];

describe.each(backends)('dualwrite operator CLI: $name', ({ setup }) => {
  it('status, dead-letters list, reconcile --dry-run and verify report the truth; requeue + a worker fix it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-operator-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { relational, env: backendEnv } = await setup(dir);
    await writeAppData(relational, join(dir, 'lancedb'));
    const env = {
      ...process.env,
      ...backendEnv,
      DUALWRITE_DATA_DIR: dir,
      DUALWRITE_EMBEDDING_DIMENSION: String(DIMENSION),
    };

    const status = await cli(['status', '--json'], env);
    expect(status.code, status.err).toBe(0);
    expect(status.json()).toMatchObject({
      outboxDepth: 0, // pending only: the dead letter is parked
      deadLetters: 1,
      indexDrift: null,
      binding: { backend: 'lancedb', collection: 'dualwrite', dimension: DIMENSION },
    });
    const human = await cli(['status'], env);
    expect(human.out).toMatch(/dead letters\s*│\s*1/);

    const dead = await cli(['dead-letters', 'list', '--json'], env);
    expect(dead.code, dead.err).toBe(0);
    expect(dead.json()).toMatchObject([
      { id: 'poisoned', state: 'dead', lastError: expect.stringMatching(/rejected/) },
    ]);

    const dry = await cli(['reconcile', '--dry-run', '--json'], env);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, missing: 0, deadLettered: 1, repairsEnqueued: 0 });

    const before = await cli(['verify'], env);
    expect(before.code, 'verify exits 1 while the index differs').toBe(1);
    expect(before.out).toMatch(/NOT consistent: 10 live records, 9 vectors; not indexed 1/);
    expect(before.out, 'says the difference is queued').toMatch(
      /the outbox holds 0 pending and 1 dead-lettered change\(s\): .* queued, not lost/,
    );
    expect((await cli(['verify', '--json'], env)).json()).toMatchObject({
      lost: 1,
      outbox: { pending: 0, deadLetters: 1 },
    });

    const requeued = await cli(['dead-letters', 'requeue', '--id', 'poisoned', '--json'], env);
    expect(requeued.json()).toEqual({ requeued: 1 });
    // A worker (a facade that delivers, with the embedder) drains the requeued entry.
    const worker = await createDualWrite({
      relational:
        backendEnv.DATABASE_URL !== undefined
          ? new PostgresRelationalStore({
              connectionString: DATABASE_URL,
              schema: backendEnv.DUALWRITE_PG_SCHEMA!,
            })
          : new SqliteRelationalStore({ path: join(dir, 'dualwrite.sqlite') }),
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lancedb'), dimension: DIMENSION }),
      embedder: new HashingEmbedder({ dimension: DIMENSION }),
      strategy: 'batch',
      driftCheck: false,
    });
    await worker.flush();
    await worker.close();

    const after = await cli(['verify', '--json'], env);
    expect(after.code, after.out).toBe(0);
    expect(after.json()).toMatchObject({ consistent: true, records: 10, vectors: 10, lost: 0 });
  });
});

describe('dualwrite operator CLI: the index it is pointed at', () => {
  /** A data directory whose SQLite source is bound to the LanceDB table `dualwrite` holding doc-0..doc-8. */
  async function boundDataDir() {
    const dir = await mkdtemp(join(tmpdir(), 'dw-operator-index-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeAppData(
      new SqliteRelationalStore({ path: join(dir, 'dualwrite.sqlite') }),
      join(dir, 'lancedb'),
    );
    const env = {
      ...process.env,
      DUALWRITE_RELATIONAL: 'sqlite',
      DUALWRITE_DATA_DIR: dir,
      DUALWRITE_EMBEDDING_DIMENSION: String(DIMENSION),
    };
    return { dir, env };
  }

  it('status, verify and reconcile --dry-run at a mistyped LanceDB directory fail naming it, and create nothing', async () => {
    const { dir, env } = await boundDataDir();
    const typo = join(dir, 'lancdb');
    for (const args of [['status'], ['verify'], ['reconcile', '--dry-run'], ['dead-letters', 'list']]) {
      const r = await cli([...args, '--lancedb-dir', typo], env);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toMatch(/vector\.lancedbDir .*lancdb does not exist/);
      expect(existsSync(typo), `${args.join(' ')} created the mistyped directory`).toBe(false);
    }
  });

  // helper-56: an existing directory without the table, or another table name, got an empty table created; a
  // copy of the index at another path had the binding moved to it by `status`.
  it('they create no table in an existing directory, and never move the binding to a copy of the index', async () => {
    const { dir, env } = await boundDataDir();
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const noTable = await cli(['status', '--lancedb-dir', empty], env);
    expect(noTable.code).toBe(1);
    expect(noTable.err).toMatch(/vector\.collection "dualwrite" is no table in .*empty/);
    // (LanceDB's connection may leave its `__manifest` there: a table is what must not appear.)
    expect(
      (await readdir(empty)).filter((f) => f.endsWith('.lance')),
      'no table created',
    ).toEqual([]);
    const otherName = await cli(['verify', '--collection', 'dualwritee'], env);
    expect(otherName.code).toBe(1);
    expect(existsSync(join(dir, 'lancedb', 'dualwritee.lance')), 'no table of the mistyped name').toBe(false);

    const checkpoint = async () => {
      const store = new SqliteRelationalStore({ path: join(dir, 'dualwrite.sqlite') });
      await store.init();
      try {
        return [await store.getMeta(INDEX_CHECKPOINT_KEY), await store.getMeta(INDEX_CHECKPOINT_INTENT_KEY)];
      } finally {
        await store.close();
      }
    };
    const stamped = await checkpoint();
    const before = (await cli(['status', '--json'], env)).json().binding as { location: string };
    await cp(join(dir, 'lancedb'), join(dir, 'copy'), { recursive: true });
    const copy = await cli(['status', '--json', '--lancedb-dir', join(dir, 'copy')], env);
    expect(copy.code, copy.err).toBe(0);
    const after = (await cli(['status', '--json'], env)).json().binding as { location: string };
    expect(after.location, 'the binding still names the original').toBe(before.location);
    // helper-76: each `status` stamped the index checkpoint — one on a copy made the bound index look rolled back.
    expect(await checkpoint(), 'no checkpoint stamped or recorded by the inspecting commands').toEqual(
      stamped,
    );

    // The bound index is checked after the copy was taken (a checkpoint stamped on it): the copy is behind now,
    // and a command that inspects it refuses, rather than report on an index the source does not feed.
    const app = await createDualWrite({
      relational: new SqliteRelationalStore({ path: join(dir, 'dualwrite.sqlite') }),
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lancedb'), dimension: DIMENSION }),
      embedder: new HashingEmbedder({ dimension: DIMENSION }),
      strategy: 'batch',
      driftCheck: false,
    });
    await app.checkIndex();
    await app.close();
    const behind = await cli(['status', '--lancedb-dir', join(dir, 'copy')], env);
    expect(behind.code, behind.err).toBe(1);
    expect(behind.err).toMatch(/copy of the bound index/);
    expect((await cli(['status'], env)).code, 'the original still passes').toBe(0);
  });

  // helper-56's last open item: the first process to look at a fresh source bound it, even one that only inspects.
  it('on a source nothing has bound yet, a writer-only API and the inspecting commands bind nothing and stamp nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-operator-fresh-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'dualwrite.sqlite');
    const uri = join(dir, 'lancedb');
    const api = await createDualWrite({
      relational: new SqliteRelationalStore({ path }),
      vector: await LanceDbVectorStore.open({ uri, dimension: DIMENSION }),
      embedder: new HashingEmbedder({ dimension: DIMENSION }),
      strategy: 'batch',
      deliver: false,
      driftCheck: false,
    });
    await api.put({ id: 'a', text: 'written by an API process that delivers nothing' });
    await api.close();
    const env = {
      ...process.env,
      DUALWRITE_RELATIONAL: 'sqlite',
      DUALWRITE_DATA_DIR: dir,
      DUALWRITE_EMBEDDING_DIMENSION: String(DIMENSION),
    };
    const status = await cli(['status'], env);
    expect(status.code, status.err).toBe(0);
    for (const args of [['verify'], ['reconcile', '--dry-run'], ['dead-letters', 'list']])
      await cli(args, env);
    const relational = new SqliteRelationalStore({ path });
    const vector = await LanceDbVectorStore.open({ uri, dimension: DIMENSION, create: false });
    cleanups.push(
      () => relational.close(),
      () => vector.close(),
    );
    expect(await relational.getMeta(INDEX_BINDING_KEY), 'the source was bound').toBeUndefined();
    // Nothing written to the source either (an operator may inspect with read-only credentials).
    expect(await relational.getMeta(SOURCE_TOKEN_KEY), 'an owner token was drawn').toBeUndefined();
    expect((await vector.identity()).owner, 'the index was stamped').toBeNull();
    // The first process that delivers binds it.
    const worker = await createDualWrite({
      relational: new SqliteRelationalStore({ path }),
      vector: await LanceDbVectorStore.open({ uri, dimension: DIMENSION }),
      embedder: new HashingEmbedder({ dimension: DIMENSION }),
      strategy: 'batch',
    });
    await worker.flush();
    await worker.close();
    expect(await relational.getMeta(INDEX_BINDING_KEY)).toBeDefined();
    expect((await vector.identity()).owner).toBe(await relational.getMeta(SOURCE_TOKEN_KEY));
  });

  // helper-58: a sync-2pc writer-only process writes the index in the call; bound by nobody, it was claimed by
  // another source of truth, whose repair deleted the first source's acknowledged rows as orphans.
  it('a writer-only sync-2pc process binds and stamps the index it writes: another source is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-writer-only-2pc-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const uri = join(dir, 'lancedb');
    const open = async (path: string, deliver: boolean) =>
      createDualWrite({
        relational: new SqliteRelationalStore({ path }),
        vector: await LanceDbVectorStore.open({ uri, dimension: DIMENSION }),
        embedder: new HashingEmbedder({ dimension: DIMENSION }),
        strategy: deliver ? 'batch' : 'sync-2pc',
        deliver,
        driftCheck: deliver ? {} : false,
      });
    const api = await open(join(dir, 'first.sqlite'), false);
    const written = await api.put({ id: 'a', text: 'in the index once put returns' });
    await api.close();
    const relational = new SqliteRelationalStore({ path: join(dir, 'first.sqlite') });
    cleanups.push(() => relational.close());
    expect(await relational.getMeta(INDEX_BINDING_KEY), 'bound by the process that wrote it').toBeDefined();
    await expect(open(join(dir, 'second.sqlite'), true)).rejects.toThrow(/another source of truth|owner/);
    const vector = await LanceDbVectorStore.open({ uri, dimension: DIMENSION, create: false });
    cleanups.push(() => vector.close());
    expect((await vector.getVersions(['a'])).get('a')).toBe(written.version);
  });

  it('reconcile --index-binding rebind moves the binding to another table and enqueues its fill; nothing else rebinds', async () => {
    const { env } = await boundDataDir();
    const refused = await cli(['reconcile', '--collection', 'other'], env);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /bound to another vector index \(collection: bound "dualwrite", configured "other"\)/,
    );
    expect(refused.err, 'names the setting that rebinds').toMatch(/--index-binding rebind/);
    const statusOnly = await cli(['status', '--collection', 'other', '--index-binding', 'rebind'], env);
    expect(statusOnly.code, 'status never rebinds').toBe(1);

    const rebound = await cli(
      ['reconcile', '--collection', 'other', '--index-binding', 'rebind', '--json'],
      env,
    );
    expect(rebound.code, rebound.err).toBe(0);
    expect(rebound.json()).toMatchObject({
      rebound: [{ reason: expect.stringMatching(/rebound from lancedb "dualwrite"/), missing: 9 }],
    });
    const status = await cli(['status', '--collection', 'other', '--json'], env);
    expect(status.code, status.err).toBe(0);
    expect(status.json()).toMatchObject({
      binding: { collection: 'other' },
      indexDrift: null,
      outboxDepth: 9, // the fill of the new table, for a worker to deliver
    });
    const old = await cli(['status'], env);
    expect(old.code, 'the old table is no longer the bound one').toBe(1);
  });
});

describe('dualwrite operator CLI: usage', () => {
  it('runs as a bin; unknown commands and bad flags exit 2, a missing SQLite file exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dw-operator-usage-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', '--conditions=source', BIN, ...args], {
        cwd: APP_ROOT,
        env: { ...process.env, ...env },
      }).then(
        (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          out: e.stdout,
          err: e.stderr,
        }),
      );
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/dead-letters requeue/);
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['status', '--limit', 'x'])).code).toBe(2);
    const missing = await run(['status'], {
      DUALWRITE_RELATIONAL: 'sqlite',
      DUALWRITE_DATA_DIR: join(dir, 'nothing'),
      DUALWRITE_EMBEDDING_DIMENSION: '8',
    });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/does not exist/);
  });

  it("a flag of another command is refused, naming the command that takes it; a flag's value is never the next flag (helper-54)", async () => {
    const env = {}; // refused before any backend is opened
    for (const [args, message] of [
      [
        ['dead-letters', 'requeue', '--limit', '1'],
        /--limit is not an option of "dualwrite dead-letters requeue" \(only of "dualwrite dead-letters list"\)/,
      ],
      [['dead-letters', 'requeue', '--after', 'x'], /--after is not an option/],
      [['reconcile', '--id', 'x'], /--id is not an option of "dualwrite reconcile"/],
      [
        ['status', '--dry-run'],
        /--dry-run is not an option of "dualwrite status" \(only of "dualwrite reconcile"\)/,
      ],
      [['dead-letters', 'requeue', '--id', '--json'], /--id needs a value/],
    ] as const) {
      const r = await cli([...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(message);
    }
  });

  it('--version prints the package version; a command has its own --help; an error is printed once, with the command meant', async () => {
    const version = await cli(['--version'], {});
    expect(version.code).toBe(0);
    expect(version.out.trim()).toBe(
      JSON.parse(await readFile(join(APP_ROOT, 'package.json'), 'utf8')).version,
    );
    const help = await cli(['status', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: dualwrite status/);
    expect(help.out).toMatch(/outbox depth/);
    expect(help.out, 'the backend flags').toMatch(/--relational/);
    expect(help.out, 'the operator flags').toMatch(/--json/);
    expect(help.out).not.toMatch(/drain loop/);
    const listHelp = await cli(['dead-letters', '--help'], {});
    expect(listHelp.code).toBe(0);
    expect(listHelp.out).toMatch(/^Usage: dualwrite dead-letters/);
    const bad = await cli(['status', '--bogus'], {});
    expect(bad.code).toBe(2);
    expect(bad.err.match(/unknown option '--bogus'/g), 'printed once').toHaveLength(1);
    const typo = await cli(['stauts'], {});
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/unknown command 'stauts'/);
    expect(typo.err).toMatch(/Did you mean status\?/);
    const flagTypo = await cli(['status', '--jsn'], {});
    expect(flagTypo.code).toBe(2);
    expect(flagTypo.err).toMatch(/Did you mean --json\?/);
  });
});
