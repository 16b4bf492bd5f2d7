import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, parseWorkerConfig, WorkerConfigError } from '../src/index.js';

const argv = (...args: string[]) => ['node', 'dualwrite-worker', ...args];
const quiet = { writeOut: () => {}, writeErr: () => {} };

describe('parseWorkerConfig', () => {
  it('applies defaults: sqlite + lancedb under ./data, batch', () => {
    const config = parseWorkerConfig(argv('--dim', '16'), {}, quiet);
    expect(config).toMatchObject({
      relational: 'sqlite',
      sqlitePath: join(resolve('./data'), 'dualwrite.sqlite'),
      vector: 'lancedb',
      lancedbDir: join(resolve('./data'), 'lancedb'),
      collection: 'dualwrite',
      dimension: 16,
      embedder: 'hashing',
      strategy: 'batch',
      concurrency: 1,
      batchSize: 100,
      pollIntervalMs: 200,
      maxAttempts: 8,
    });
  });

  it('reads the environment; flags win over it', () => {
    const env = {
      DATABASE_URL: 'postgres://u:secret@db:5432/app',
      DUALWRITE_VECTOR: 'chroma',
      CHROMA_URL: 'http://chroma:8000',
      DUALWRITE_STRATEGY: 'async-queue',
      DUALWRITE_EMBEDDING_DIMENSION: '384',
      DUALWRITE_DATA_DIR: '/srv/dw',
    };
    const config = parseWorkerConfig(argv('--strategy', 'batch', '--batch-size', '500'), env, quiet);
    expect(config).toMatchObject({
      relational: 'postgres',
      databaseUrl: env.DATABASE_URL,
      vector: 'chroma',
      chromaUrl: 'http://chroma:8000',
      strategy: 'batch',
      batchSize: 500,
      dimension: 384,
      dataDir: '/srv/dw',
      pollIntervalMs: 5_000,
    });
    expect(parseWorkerConfig(argv(), env, quiet).strategy).toBe('async-queue');
    expect(parseWorkerConfig(argv(), env, quiet).concurrency).toBe(4);
    expect(describeConfig(parseWorkerConfig(argv(), env, quiet)).databaseUrl).toBe(
      'postgres://u:***@db:5432/app',
    );
  });

  it('rejects invalid input with exit code 2', () => {
    const bad = [
      argv(), // no --dim
      argv('--dim', '0'),
      argv('--dim', '8', '--strategy', 'sync-2pc'),
      argv('--dim', '8', '--relational', 'postgres'), // no URL
      argv('--dim', '8', '--no-such-flag'),
    ];
    for (const args of bad) {
      const error = (() => {
        try {
          parseWorkerConfig(args, {}, quiet);
        } catch (e) {
          return e;
        }
      })();
      expect(error, args.join(' ')).toBeInstanceOf(WorkerConfigError);
      expect((error as WorkerConfigError).exitCode, args.join(' ')).toBe(2);
    }
  });
});
