import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Parent → drain worker. */
export type DrainParentMessage = { type: 'go' } | { type: 'stop' };

/** Drain worker → parent. */
export type DrainChildMessage =
  | { type: 'ready'; pid: number }
  /** One delivered batch; `at` is Unix ms (`performance.timeOrigin + performance.now()`). */
  | { type: 'synced'; count: number; at: number }
  | { type: 'stopped'; synced: number; vectorCalls: number; retries: number; deadLettered: number }
  | { type: 'error'; message: string };

/** A worker's counters when it stopped. */
export interface DrainWorkerReport {
  pid: number;
  synced: number;
  vectorCalls: number;
  retries: number;
  deadLettered: number;
}

/** Lines of a worker's stderr kept for error messages. */
const STDERR_TAIL = 20;

/**
 * One drain worker process (`src/drain-worker.ts`: `@dualwrite/worker`'s `startWorker` with a pause/go
 * handshake) started with `node --import tsx --conditions=source` (from the sources, like `pnpm bench`)
 * or plain `node` when running from `dist/`.
 */
export class DrainWorkerProcess {
  private readonly child: ChildProcess;
  private readonly stderr: string[] = [];
  private readonly readyPromise: Promise<number>;
  private stoppedPromise: Promise<DrainWorkerReport> | undefined;
  private exitError: Error | undefined;
  private readonly waiters = new Set<(error: Error) => void>();
  /** Records this worker reported delivered so far. */
  synced = 0;
  /** Unix ms of its last delivered batch. */
  lastSyncedAt: number | undefined;

  /**
   * @param args - `dualwrite-worker` flags (`--relational postgres --database-url ... --dim ...`).
   * @param onSynced - called for every delivered batch.
   */
  constructor(
    args: readonly string[],
    private readonly onSynced: (count: number) => void,
  ) {
    const self = fileURLToPath(import.meta.url);
    const entry = self.replace(/runs[\\/]drain-process\.(ts|js)$/, 'drain-worker.$1');
    const fromSource = entry.endsWith('.ts');
    const execArgv = fromSource
      ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, '--conditions=source']
      : [];
    this.child = fork(entry, [...args], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) this.stderr.push(line);
      this.stderr.splice(0, Math.max(0, this.stderr.length - STDERR_TAIL));
    });
    this.child.on('message', (message: DrainChildMessage) => {
      if (message.type === 'synced') {
        this.synced += message.count;
        this.lastSyncedAt = Math.max(this.lastSyncedAt ?? 0, message.at);
        this.onSynced(message.count);
      } else if (message.type === 'error') this.fail(new Error(`drain worker failed: ${message.message}`));
    });
    this.child.once('error', (error) => this.fail(error));
    this.child.once('exit', (code, signal) =>
      this.fail(new Error(`drain worker exited (${signal ?? `code ${code}`})${this.tail()}`)),
    );
    this.readyPromise = this.next('ready').then((m) => m.pid);
    this.readyPromise.catch(() => {}); // surfaced by ready()
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once the worker is connected, initialised and paused. */
  ready(timeoutMs: number): Promise<number> {
    return withTimeout(this.readyPromise, timeoutMs, 'drain worker did not become ready');
  }

  /** Starts delivery. */
  go(): void {
    this.send({ type: 'go' });
  }

  /** Stops the worker gracefully and returns its counters. */
  stop(timeoutMs: number): Promise<DrainWorkerReport> {
    this.stoppedPromise ??= (async () => {
      const stopped = this.next('stopped');
      this.send({ type: 'stop' });
      const m = await withTimeout(stopped, timeoutMs, 'drain worker did not stop');
      return {
        pid: this.child.pid ?? 0,
        synced: m.synced,
        vectorCalls: m.vectorCalls,
        retries: m.retries,
        deadLettered: m.deadLettered,
      };
    })();
    return this.stoppedPromise;
  }

  /** Kills the process if it is still running (after a failure). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Resolves when the process has exited. */
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  /** Rejects with the worker's failure (exit, error message) whenever it happens. */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.exitError) reject(this.exitError);
      else this.waiters.add(reject);
    });
  }

  private send(message: DrainParentMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  private next<T extends DrainChildMessage['type']>(
    type: T,
  ): Promise<Extract<DrainChildMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.exitError) return reject(this.exitError);
      const onMessage = (message: DrainChildMessage) => {
        if (message.type !== type) return;
        this.child.off('message', onMessage);
        this.waiters.delete(reject);
        resolve(message as Extract<DrainChildMessage, { type: T }>);
      };
      this.child.on('message', onMessage);
      this.waiters.add(reject);
    });
  }

  private fail(error: Error): void {
    this.exitError ??= error;
    for (const reject of this.waiters) reject(this.exitError);
    this.waiters.clear();
  }

  private tail(): string {
    return this.stderr.length === 0 ? '' : `; stderr:\n${this.stderr.join('\n')}`;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
