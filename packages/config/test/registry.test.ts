/**
 * The name → backend registry against real backends: lazy adapter imports (observed in a child process's
 * module resolution), a missing adapter, a worker's refusal to create a SQLite file, and an unreachable
 * PostgreSQL named without its password.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BackendUnavailableError } from '@dualwrite/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKEND_SETTINGS,
  BackendConfigSchema,
  BackendPackageMissingError,
  BackendStartError,
  DEFAULT_BACKEND_CONFIG,
  loadConfig,
  openBackends,
} from '../src/index.js';
import { importAdapter } from '../src/registry/lazy-adapter.js';

const run = promisify(execFile);
const FIXTURE = fileURLToPath(new URL('./fixtures/open-and-list-modules.ts', import.meta.url));
const spec = { schema: BackendConfigSchema, defaults: DEFAULT_BACKEND_CONFIG, settings: BACKEND_SETTINGS };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dw-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens the targets in a child process; returns its verdict and every module URL it resolved. */
async function openInChild(name: string, relational: object, vector: object) {
  const log = join(dir, `${name}.modules`);
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=source',
      FIXTURE,
      JSON.stringify(relational),
      JSON.stringify(vector),
      log,
    ],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000 },
  );
  const modules = existsSync(log) ? (await readFile(log, 'utf8')).split('\n') : [];
  return { verdict: stdout.trim(), modules };
}
const loaded = (modules: string[], pattern: RegExp) => modules.some((url) => pattern.test(url));

describe('the backend registry', () => {
  it('imports only the adapters the config chooses', async () => {
    const embedded = await openInChild(
      'embedded',
      { kind: 'sqlite', sqlitePath: join(dir, 'a.sqlite') },
      { kind: 'lancedb', lancedbDir: join(dir, 'lance') },
    );
    expect(embedded.verdict).toBe('opened');
    expect(loaded(embedded.modules, /packages\/sqlite\/src|@dualwrite\/sqlite/)).toBe(true);
    expect(loaded(embedded.modules, /@lancedb\/lancedb/)).toBe(true);
    expect(loaded(embedded.modules, /chromadb|packages\/chroma\//), 'Chroma loaded for LanceDB').toBe(false);
    expect(
      loaded(embedded.modules, /\/node_modules\/(\.pnpm\/)?pg[@/]|packages\/postgres\//),
      'pg loaded for SQLite',
    ).toBe(false);

    // Chroma on a port where nothing listens: the open fails, and LanceDB was never loaded for it.
    const chroma = await openInChild(
      'chroma',
      { kind: 'sqlite', sqlitePath: join(dir, 'b.sqlite') },
      { kind: 'chroma', chromaUrl: 'http://127.0.0.1:1', collection: 'docs' },
    );
    expect(chroma.verdict).toBe('BackendUnavailableError');
    expect(loaded(chroma.modules, /packages\/chroma\/|chromadb/)).toBe(true);
    expect(loaded(chroma.modules, /@lancedb\/lancedb|packages\/lancedb\//), 'LanceDB loaded for Chroma').toBe(
      false,
    );
  });

  it('names the missing adapter package and the install line', async () => {
    const error = await importAdapter(
      { key: 'vector.kind', kind: 'qdrant', packageName: '@dualwrite/qdrant', install: '@dualwrite/qdrant' },
      // @ts-expect-error: a package that is not installed
      () => import('@dualwrite/qdrant'),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendPackageMissingError);
    expect((error as Error).message).toBe(
      'vector.kind is "qdrant", which needs @dualwrite/qdrant: npm install @dualwrite/qdrant',
    );
  });

  it('with create: false, refuses a missing SQLite file before creating the index', async () => {
    const config = loadConfig(spec, { env: { DUALWRITE_DATA_DIR: join(dir, 'nothing-here') }, cwd: dir });
    const error = await openBackends(config, { create: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain('does not exist and options.create is false');
    expect(existsSync(join(dir, 'nothing-here')), 'nothing was created').toBe(false);
  });

  it('an index of another dimension names the setting to change', async () => {
    const data = join(dir, 'dim-32');
    const opened = await openBackends(
      loadConfig(spec, { env: { DUALWRITE_DATA_DIR: data, DUALWRITE_EMBEDDING_DIMENSION: '32' }, cwd: dir }),
    );
    await opened.vector.store.close();
    await opened.relational.store.close();
    const error = await openBackends(loadConfig(spec, { env: { DUALWRITE_DATA_DIR: data }, cwd: dir })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackendStartError);
    expect((error as Error).message).toMatch(
      /expected 32 dimensions, got 384 \(limit: length === 32\); the index holds 32-dimension vectors: set embedder\.dimension \(DUALWRITE_EMBEDDING_DIMENSION, --dim\) to 32/,
    );
  });

  it('a missing SQLite file while DATABASE_URL is set says how to choose the server', async () => {
    const config = loadConfig(spec, {
      env: { DUALWRITE_DATA_DIR: join(dir, 'nothing-here'), DATABASE_URL: 'postgres://app@127.0.0.1:1/app' },
      cwd: dir,
    });
    const error = await openBackends(config, { create: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendStartError);
    expect((error as Error).message).toMatch(
      /does not exist and options\.create is false; relational\.url \(DATABASE_URL, --database-url\) is set but relational\.kind is "sqlite": set DUALWRITE_RELATIONAL \(--relational\) to postgres or mysql/,
    );
  });

  it('with createIndex: false, refuses a missing LanceDB directory naming it, and creates nothing', async () => {
    const data = join(dir, 'index-missing');
    const opened = await openBackends(
      loadConfig(spec, { env: { DUALWRITE_DATA_DIR: data, DUALWRITE_EMBEDDING_DIMENSION: '8' }, cwd: dir }),
    );
    await opened.vector.store.close();
    await opened.relational.store.close();
    const config = loadConfig(spec, {
      env: { DUALWRITE_DATA_DIR: data, DUALWRITE_LANCEDB_DIR: join(data, 'lancdb') },
      cwd: dir,
    });
    const error = await openBackends(config, { create: false, createIndex: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendStartError);
    expect((error as Error).message).toMatch(/^vector\.lancedbDir \S+lancdb does not exist/);
    expect(existsSync(join(data, 'lancdb')), 'nothing was created').toBe(false);
  });

  it('a SQLite path that is a directory is refused naming relational.sqlitePath', async () => {
    const config = loadConfig(spec, { env: { DUALWRITE_SQLITE_PATH: dir }, cwd: dir });
    const error = await openBackends(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendStartError);
    expect((error as Error).message).toBe(
      `relational.sqlitePath ${dir} is a directory, not a SQLite file; check relational.sqlitePath ` +
        '(DUALWRITE_SQLITE_PATH, --sqlite-path) or data-dir',
    );
  });

  it('reads vector.indexBinding from DUALWRITE_INDEX_BINDING and refuses a value it does not know', () => {
    expect(loadConfig(spec, { env: {}, cwd: dir }).vector.indexBinding).toBe('verify');
    expect(
      loadConfig(spec, { env: { DUALWRITE_INDEX_BINDING: 'rebind' }, cwd: dir }).vector.indexBinding,
    ).toBe('rebind');
    expect(() => loadConfig(spec, { env: { DUALWRITE_INDEX_BINDING: 'force' }, cwd: dir })).toThrow(
      /vector\.indexBinding \(from env DUALWRITE_INDEX_BINDING\)/,
    );
  });

  it('refuses credentials in OPENAI_BASE_URL at load, without echoing them', () => {
    const env = {
      DUALWRITE_EMBEDDER: 'openai',
      OPENAI_BASE_URL: 'http://user:BasicPw@127.0.0.1:9/v1',
      DUALWRITE_EMBEDDER_MODEL: 'm',
    };
    const error = (() => {
      try {
        loadConfig(spec, { env, cwd: dir });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/embedder\.baseUrl.*must not hold credentials/);
    expect(error?.message).not.toContain('BasicPw');
  });

  it('names an unreachable PostgreSQL by host and database, never with its password', async () => {
    const config = loadConfig(spec, {
      env: { DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/appdb' },
      cwd: dir,
    });
    const error = await openBackends(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendStartError);
    expect((error as Error).message).toContain(
      'cannot connect to PostgreSQL at 127.0.0.1:1/appdb (schema public)',
    );
    expect((error as Error).message).toContain('check relational.url (DATABASE_URL)');
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('checks a MySQL URL by its scheme and names an unreachable server without its password', async () => {
    const load = (url?: string) => () =>
      loadConfig(spec, {
        env: { DUALWRITE_RELATIONAL: 'mysql', ...(url ? { DATABASE_URL: url } : {}) },
        cwd: dir,
      });
    expect(load()).toThrow(/relational\.url.*is required when relational\.kind is "mysql"/);
    expect(load('postgres://app:s3cret@db/app')).toThrow(/must be a mysql:\/\/ or mariadb:\/\/ URL/);
    expect(load('postgres://app:s3cret@db/app')).not.toThrow(/s3cret/);
    const error = await openBackends(load('mysql://app:s3cret@127.0.0.1:1/appdb')()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendStartError);
    expect((error as Error).message).toContain('cannot connect to MySQL at 127.0.0.1:1/appdb');
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('opens what a loaded config names, initialised, and describes it', async () => {
    const config = loadConfig(spec, {
      env: {
        DUALWRITE_DATA_DIR: join(dir, 'data'),
        DUALWRITE_EMBEDDING_DIMENSION: '8',
        DUALWRITE_COLLECTION: 'docs',
      },
      cwd: dir,
    });
    const opened = await openBackends(config);
    try {
      expect(opened.describe).toEqual({
        relational: `sqlite ${join(dir, 'data', 'dualwrite.sqlite')}`,
        vector: `lancedb ${join(dir, 'data', 'lancedb')} (docs)`,
        embedder: 'hashing (lexical, 8-d)',
      });
      expect(await opened.relational.store.currentVersion()).toBe(0);
      expect(opened.embedder?.dimension).toBe(8);
    } finally {
      await opened.vector.store.close();
      await opened.relational.store.close();
    }
  });
});

describe('the settings table', () => {
  it('gives every key one environment variable and one flag, and every key exists in the schema', () => {
    const envs = BACKEND_SETTINGS.flatMap((s) => (s.env ? [s.env] : []));
    const flags = BACKEND_SETTINGS.flatMap((s) => (s.flag ? [s.flag] : []));
    expect(new Set(envs).size).toBe(envs.length);
    expect(new Set(flags).size).toBe(flags.length);
    for (const setting of BACKEND_SETTINGS) {
      const [section, field] = setting.key.split('.');
      const node = (
        BackendConfigSchema.properties as Record<string, { properties?: Record<string, unknown> }>
      )[section!];
      expect(node, setting.key).toBeDefined();
      if (field) expect(node!.properties?.[field], setting.key).toBeDefined();
    }
  });
});

describe('README.md', () => {
  it('documents every setting: its key, environment variable and flag', async () => {
    const readme = await readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    for (const s of BACKEND_SETTINGS) {
      expect(readme, s.key).toContain(
        `| \`${s.key}\` | \`${s.env ?? '—'}\` | ${s.flag ? `\`--${s.flag}\`` : '—'} |`,
      );
    }
  });
});
