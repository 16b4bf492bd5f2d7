import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { redactConfig } from '@dualwrite/config';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWorkerConfig, WorkerConfigError } from '../src/index.js';

const argv = (...args: string[]) => ['node', 'dualwrite-worker', ...args];
const quiet = { writeOut: () => {}, writeErr: () => {} };
const failure = (fn: () => unknown): WorkerConfigError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerConfigError);
    return error as WorkerConfigError;
  }
  throw new Error('expected a WorkerConfigError');
};

describe('parseWorkerConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'worker-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("applies the shared defaults: the demo API's sqlite + lancedb paths under ./data, batch, 384-d hashing", () => {
    const config = parseWorkerConfig(argv(), {}, quiet);
    expect(config).toMatchObject({
      relational: {
        kind: 'sqlite',
        sqlitePath: join(resolve('./data'), 'dualwrite.sqlite'),
        tablePrefix: 'dw_',
      },
      vector: { kind: 'lancedb', lancedbDir: join(resolve('./data'), 'lancedb'), collection: 'dualwrite' },
      embedder: { kind: 'hashing', dimension: 384 },
      strategy: { name: 'batch', concurrency: 2, batchSize: 256, pollIntervalMs: 200, maxAttempts: 8 },
    });
    expect(config.worker.owner).toMatch(/:\d+$/);
  });

  it('reads the environment and a config file; flags win over the environment, which wins over the file', () => {
    const file = join(dir, 'worker.json');
    // One file for the demo API and the worker: the worker ignores the API's `server` section.
    writeFileSync(
      file,
      JSON.stringify({
        server: { port: 8080 },
        strategy: { name: 'async-queue', concurrency: 3 },
        vector: { collection: 'docs' },
        worker: { statsIntervalMs: 0 },
      }),
    );
    const env = {
      DUALWRITE_RELATIONAL: 'postgres',
      DATABASE_URL: 'postgres://u:secret@db:5432/app',
      DUALWRITE_VECTOR: 'chroma',
      CHROMA_URL: 'http://chroma:8000',
      DUALWRITE_EMBEDDING_DIMENSION: '16',
      DUALWRITE_DATA_DIR: '/srv/dw',
      DUALWRITE_CONFIG: file,
      DUALWRITE_CONCURRENCY: '5',
    };
    const config = parseWorkerConfig(argv('--strategy', 'batch', '--batch-size', '500'), env, quiet);
    expect(config).toMatchObject({
      relational: { kind: 'postgres', url: env.DATABASE_URL, schema: 'public' },
      vector: { kind: 'chroma', chromaUrl: 'http://chroma:8000', collection: 'docs' },
      strategy: { name: 'batch', batchSize: 500, concurrency: 5, pollIntervalMs: 5_000 },
      embedder: { dimension: 16 },
      dataDir: '/srv/dw',
      configFile: file,
      worker: { statsIntervalMs: 0 },
    });
    expect(parseWorkerConfig(argv(), env, quiet).strategy.name).toBe('async-queue');
    expect(redactConfig(parseWorkerConfig(argv(), env, quiet)).relational.url).toBe(
      'postgres://u:***@db:5432/app',
    );
  });

  it('rejects invalid input with exit code 2, naming the key and where it came from', () => {
    const cases: [string[], Record<string, string>, string][] = [
      [argv('--dim', '0'), {}, 'embedder.dimension (from flag --dim)'],
      [argv('--strategy', 'sync-2pc'), {}, 'strategy.name (from flag --strategy)'],
      [argv('--relational', 'postgres'), {}, 'relational.url'],
      [argv(), { DUALWRITE_BATCH_SIZE: 'many' }, 'strategy.batchSize (from env DUALWRITE_BATCH_SIZE)'],
      [argv('--no-such-flag'), {}, "unknown option '--no-such-flag'"],
      [argv('--config', join(dir, 'missing.json')), {}, 'cannot read it'],
    ];
    for (const [args, env, message] of cases) {
      const error = failure(() => parseWorkerConfig(args, env, quiet));
      expect(error.exitCode, args.join(' ')).toBe(2);
      expect(error.message, args.join(' ')).toContain(message);
    }
    // The operator's inspecting commands accept every strategy.
    expect(parseWorkerConfig(argv('--strategy', 'sync-2pc'), {}, quiet, 'inspect').strategy.name).toBe(
      'sync-2pc',
    );
  });
});
