import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SymbolSummary } from '../input/extract-summaries.js';
import type { BacklogResult } from './backlog.js';
import type { RunSettings } from './types.js';

/** Everything the backlog worker process needs (plain data: it crosses the IPC channel). */
export interface BacklogRequest {
  runId: string;
  strategy: 'async-queue' | 'batch';
  count: number;
  summaries: SymbolSummary[];
  dimension: number;
  settings: RunSettings;
  vector: string;
  /** The running Chroma server (the parent's) when `vector` is `chroma`. */
  chromaUrl: string | undefined;
  relational: string;
  /** PostgreSQL server when `relational` is `postgres`. */
  databaseUrl: string;
  /** MySQL server for `relational: 'mysql'`. */
  mysqlUrl: string;
  workDir: string;
}

/** Messages from the worker. */
export type BacklogMessage =
  | { type: 'progress'; records: number }
  | { type: 'result'; result: BacklogResult }
  | { type: 'error'; message: string };

/**
 * Runs one backlog measurement in a fresh Node process (same flags as this one, e.g. tsx's loader and
 * `--expose-gc`), so its idle RSS is not inflated by the memory earlier runs left behind.
 */
export function runBacklogIsolated(
  request: BacklogRequest,
  onProgress: (records: number) => void,
): Promise<BacklogResult> {
  const self = fileURLToPath(import.meta.url);
  const worker = self.replace(/runs[\\/]backlog-process\.(ts|js)$/, 'backlog-worker.$1');
  return new Promise((resolve, reject) => {
    const child = fork(worker, [], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    child.on('message', (message: BacklogMessage) => {
      if (message.type === 'progress') onProgress(message.records);
      else if (message.type === 'result') settle(() => resolve(message.result));
      else settle(() => reject(new Error(message.message)));
    });
    child.once('error', (error) => settle(() => reject(error)));
    child.once('exit', (code, signal) =>
      settle(() => reject(new Error(`backlog worker exited (${signal ?? `code ${code}`}) without a result`))),
    );
    child.send(request);
  });
}
