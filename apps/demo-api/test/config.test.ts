import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { tempDir } from './helpers.js';

describe('config', () => {
  let temp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    temp = await tempDir('demo-api-config-');
  });
  afterAll(async () => {
    await temp.remove();
  });

  const load = (env: Record<string, string> = {}, argv: string[] = []) =>
    loadConfig({ env, argv, cwd: temp.dir });
  const failure = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults need no server: SQLite + LanceDB under ./data, batch, hashing, loopback', () => {
    const c = load();
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 3000, bodyLimitBytes: 1_048_576 });
    expect(c.server.authToken).toBeUndefined();
    expect(c.relational).toEqual({
      kind: 'sqlite',
      sqlitePath: join(temp.dir, 'data', 'dualwrite.sqlite'),
      schema: 'public',
      tablePrefix: 'dw_',
      poolSize: 4,
    });
    expect(c.vector).toMatchObject({ kind: 'lancedb', lancedbDir: join(temp.dir, 'data', 'lancedb') });
    expect(c.strategy.name).toBe('batch');
    expect(c.embedder).toMatchObject({ kind: 'hashing', dimension: 384 });
  });

  it('reads the documented environment variables', () => {
    const c = load({
      PORT: '8081',
      HOST: '0.0.0.0',
      DUALWRITE_DATA_DIR: '/srv/dw',
      DUALWRITE_STRATEGY: 'sync-2pc',
      DUALWRITE_VECTOR: 'chroma',
      CHROMA_URL: 'http://127.0.0.1:9000',
      DUALWRITE_RELATIONAL: 'postgres',
      DATABASE_URL: 'postgres://localhost/db',
      DUALWRITE_PG_SCHEMA: 'search',
      DUALWRITE_AUTH_TOKEN: 'secret-token',
      DUALWRITE_BATCH_SIZE: '64',
      DUALWRITE_BACKPRESSURE_MAX_DEPTH: '0',
    });
    expect(c.server).toMatchObject({ port: 8081, host: '0.0.0.0', authToken: 'secret-token' });
    expect(c.dataDir).toBe('/srv/dw');
    expect(c.strategy).toMatchObject({ name: 'sync-2pc', batchSize: 64 });
    expect(c.vector).toMatchObject({
      kind: 'chroma',
      chromaUrl: 'http://127.0.0.1:9000',
      lancedbDir: '/srv/dw/lancedb',
    });
    expect(c.relational).toMatchObject({
      kind: 'postgres',
      url: 'postgres://localhost/db',
      schema: 'search',
    });
    expect(c.backpressure.maxDepth).toBe(0);
  });

  it('reads a JSON file given by --config or DUALWRITE_CONFIG; the environment wins over it', () => {
    const file = join(temp.dir, 'dw.json');
    writeFileSync(
      file,
      JSON.stringify({ strategy: { name: 'async-queue', concurrency: 3 }, server: { port: 4000 } }),
    );
    expect(load({}, ['--config', file]).strategy).toMatchObject({ name: 'async-queue', concurrency: 3 });
    expect(load({}, [`--config=${file}`]).server.port).toBe(4000);
    expect(load({ DUALWRITE_CONFIG: 'dw.json' }).configFile).toBe(file);
    expect(load({ DUALWRITE_CONFIG: file, PORT: '5000' }).server.port).toBe(5000);
    // One file for the service and the worker: the service ignores the worker's section.
    writeFileSync(file, JSON.stringify({ worker: { statsIntervalMs: 0 }, vector: { collection: 'docs' } }));
    expect(load({}, ['--config', file]).vector.collection).toBe('docs');
  });

  it('names the bad key and where it came from', () => {
    let e = failure(() => load({ PORT: 'eighty' }));
    expect(e.key).toBe('server.port');
    expect(e.message).toContain('server.port (from env PORT)');
    expect(e.message).toContain('"eighty"');

    e = failure(() => load({ DUALWRITE_STRATEGY: 'fast' }));
    expect(e.message).toBe(
      'invalid config strategy.name (from env DUALWRITE_STRATEGY): must be one of "sync-2pc", "async-queue", "batch", got "fast"',
    );

    const file = join(temp.dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ strategy: { batchsize: 10 } }));
    e = failure(() => load({}, ['--config', file]));
    expect(e.key).toBe('strategy.batchsize');
    expect(e.message).toContain('unknown key');
    expect(e.source).toBe(`config file ${file}`);

    writeFileSync(file, JSON.stringify({ backpressure: { mode: 'drop' } }));
    expect(failure(() => load({}, ['--config', file])).key).toBe('backpressure.mode');
    writeFileSync(file, '{ not json');
    expect(failure(() => load({}, ['--config', file])).message).toContain('not valid JSON');
    expect(failure(() => load({}, ['--config', join(temp.dir, 'missing.json')])).message).toContain(
      'cannot read',
    );

    expect(failure(() => load({ DUALWRITE_RELATIONAL: 'postgres' })).key).toBe('relational.url');
    e = failure(() => load({ DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL: 'mysql://u:s3cret@db/app' }));
    expect(e.message).toContain(
      'relational.url (from env DATABASE_URL): must be a postgres:// or postgresql:// URL',
    );
    expect(e.message).not.toContain('s3cret');
    expect(failure(() => load({ DUALWRITE_EMBEDDER: 'openai' })).key).toBe('embedder.baseUrl');
    // The worker may run without an embedder; the service embeds search queries and may not.
    e = failure(() => load({ DUALWRITE_EMBEDDER: 'none' }));
    expect(e.message).toContain('embedder.kind (from env DUALWRITE_EMBEDDER): must be "hashing" or "openai"');
    expect(failure(() => load({ CHROMA_URL: 'localhost:8000' })).key).toBe('vector.chromaUrl');
    expect(failure(() => load({ DUALWRITE_AUTH_TOKEN: 'short' })).key).toBe('server.authToken');
  });

  it('selects PostgreSQL from the environment or a config file, with an optional schema', () => {
    const url = 'postgres://app:pw@db.internal:5432/summaries?sslmode=require';
    let c = load({ DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL: url });
    expect(c.relational).toMatchObject({ kind: 'postgres', url, schema: 'public' });
    c = load({ DUALWRITE_RELATIONAL: 'postgres', DATABASE_URL: 'postgresql://app@/summaries?host=/run/pg' });
    expect(c.relational.url).toBe('postgresql://app@/summaries?host=/run/pg');

    const file = join(temp.dir, 'pg.json');
    writeFileSync(file, JSON.stringify({ relational: { kind: 'postgres', url, schema: 'demo_api' } }));
    c = load({}, ['--config', file]);
    expect(c.relational).toMatchObject({ kind: 'postgres', url, schema: 'demo_api' });
    // The environment wins over the file, key by key.
    c = load({ DUALWRITE_PG_SCHEMA: 'other' }, ['--config', file]);
    expect(c.relational).toMatchObject({ kind: 'postgres', url, schema: 'other' });

    // A DATABASE_URL meant for something else does not matter while the store is SQLite.
    expect(load({ DATABASE_URL: 'mysql://x/y' }).relational.kind).toBe('sqlite');

    let e = failure(() => load({ DUALWRITE_PG_SCHEMA: 'my-schema' }));
    expect(e.message).toContain('relational.schema (from env DUALWRITE_PG_SCHEMA)');
    expect(e.message).toContain('"my-schema"');
    writeFileSync(file, JSON.stringify({ relational: { kind: 'postgres', url: 'not a url' } }));
    e = failure(() => load({}, ['--config', file]));
    expect(e.key).toBe('relational.url');
    expect(e.source).toBe(`config file ${file}`);
    writeFileSync(file, JSON.stringify({ relational: { kind: 'postgres', schema: 'demo_api' } }));
    e = failure(() => load({}, ['--config', file]));
    expect(e.key).toBe('relational.url');
    expect(e.message).toContain('is required when relational.kind is "postgres" (set DATABASE_URL)');
  });
});
