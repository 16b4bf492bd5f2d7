import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaultyVectorStore } from '@dualwrite/core';
import { type DeepPartial, loadConfig } from '../src/config/load.js';
import type { AppConfig } from '../src/config/schema.js';
import { buildServer, type DemoServer, type TestHooks } from '../src/server.js';

/** Package root (apps/demo-api). */
export const PKG_DIR = fileURLToPath(new URL('..', import.meta.url));

/** A fresh temp dir; removed by the returned function. */
export async function tempDir(prefix = 'demo-api-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** JSON as tests read it: shapes are checked by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON bodies in tests
export type Json = any;

/** Parsed HTTP answer. */
export interface Answer<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

/** A tiny HTTP client for one base URL. */
export function client(baseUrl: string, defaultHeaders: Record<string, string> = {}) {
  return async function request<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<T>> {
    const init: RequestInit = { method, headers: { ...defaultHeaders, ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (metrics, HTML)
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  };
}

/** Fast delivery knobs for tests (short backoff and polling). */
export const FAST_DELIVERY: TestHooks['delivery'] = {
  pollIntervalMs: 25,
  outageProbeMs: 50,
  maxOutageProbeMs: 200,
  backoff: { baseMs: 20, maxMs: 200, factor: 2, jitter: 'full' },
};

/** A started in-process server (listening on 127.0.0.1, a free port) and its helpers. */
export interface Started {
  url: string;
  server: DemoServer;
  /** The fault-injection wrapper around the real vector store. */
  faulty: FaultyVectorStore;
  request: ReturnType<typeof client>;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Builds the real app on a temp data dir with `overrides`, wraps the vector store in
 * {@link FaultyVectorStore} (test-only hook of the factory) and listens on port 0.
 */
export async function startApp(
  overrides: DeepPartial<AppConfig> = {},
  options: { dir?: string; hooks?: TestHooks; token?: string } = {},
): Promise<Started> {
  const temp = options.dir ? undefined : await tempDir();
  const dir = options.dir ?? temp!.dir;
  const config = loadConfig({
    argv: [],
    env: {},
    cwd: dir,
    overrides: {
      ...overrides,
      dataDir: dir,
      server: { port: 0, logLevel: 'silent', ...overrides.server },
    },
  });
  let faulty: FaultyVectorStore | undefined;
  const server = await buildServer(config, {
    delivery: FAST_DELIVERY,
    historyIntervalMs: 200,
    ...options.hooks,
    wrapVector: (store) => {
      faulty = new FaultyVectorStore(store);
      return faulty;
    },
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    server,
    faulty: faulty!,
    dir,
    request: client(url, options.token ? { authorization: `Bearer ${options.token}` } : {}),
    async stop() {
      await server.close({ drain: false, timeoutMs: 2_000 });
      await temp?.remove();
    },
  };
}

/** A summary body. */
export function summary(fqn: string, text: string, level = 'method', extra: Record<string, unknown> = {}) {
  return { targetFqn: fqn, summary: text, level, ...extra };
}

/** A spawned `src/main.ts` process. */
export interface Spawned {
  child: ChildProcess;
  url: string;
  /** Every stdout/stderr line so far. */
  lines: string[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** How `pnpm start` runs the service: one node process with tsx as loader. */
export const SERVICE_ARGS = ['--import', 'tsx', '--conditions=source', 'src/main.ts'];

/** Spawns the real service (`node --import tsx --conditions=source src/main.ts`) and waits until it listens. */
export async function spawnService(env: Record<string, string>, timeoutMs = 60_000): Promise<Spawned> {
  const child = spawn(process.execPath, SERVICE_ARGS, {
    cwd: PKG_DIR,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  // 'close', not 'exit': stdout may still hold the last log lines when 'exit' fires (Node docs, child_process
  // "Event: 'exit'"), and the tests read them once the service exited.
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`service did not listen in time:\n${lines.join('\n')}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        lines.push(line);
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${code}) before listening:\n${lines.join('\n')}`));
    });
  });
  return { child, url, lines, exited };
}
