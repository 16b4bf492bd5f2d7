/**
 * Spawning the suite's child processes (TypeScript entry points run through `tsx`, resolving workspace
 * packages to their sources with `--conditions=source`, so nothing needs building) and reading their JSON
 * lines.
 *
 * @packageDocumentation
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ChildLine } from './protocol.js';

const tsxLoader = createRequire(import.meta.url).resolve('tsx');

/**
 * Absolute path of a child entry point in this package's `src` (the TypeScript source: the package runs from
 * source through `tsx`, it is not meant to be used from a build).
 */
export function entryPath(name: 'writer-main' | 'drain-worker-main'): string {
  return fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
}

/** Node's arguments to run a TypeScript entry of this package (through tsx) with a JSON config. */
export function childNodeArgs(entry: string, config: unknown): string[] {
  return ['--conditions=source', '--import', tsxLoader, entry, JSON.stringify(config)];
}

/** A running child process speaking the line protocol. */
export interface SuiteChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Every line received so far, in order. */
  readonly lines: ChildLine[];
  /** Everything written to stderr so far. */
  stderr: string;
  /** Output that was not a protocol line (should stay empty). */
  readonly garbage: string[];
  /** Resolves with the exit code (or the killing signal) once the process is gone and stdout is read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves at the `ready` line; rejects if the process exits first. */
  readonly ready: Promise<void>;
  /** Sends SIGKILL; returns the wall-clock time (ms) it was sent. */
  kill(): number;
  /** Writes a line to the child's stdin. */
  send(line: string): void;
}

/** Options of {@link spawnChild}. */
export interface SpawnChildOptions {
  /** Called for every line as it arrives (before it is appended to `lines`). */
  onLine?: (line: ChildLine, child: SuiteChild) => void;
  /** Run the child as another user (`setpriv --reuid/--regid`), e.g. 65534 (nobody). Needs root. */
  uid?: number;
  /** Extra environment. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Spawns `node --conditions=source --import tsx <entry> <json config>` and parses its stdout as JSON lines.
 */
export function spawnChild(entry: string, config: unknown, options: SpawnChildOptions = {}): SuiteChild {
  const nodeArgs = childNodeArgs(entry, config);
  const [command, args] =
    options.uid === undefined
      ? [process.execPath, nodeArgs]
      : [
          '/usr/bin/setpriv',
          [
            `--reuid=${options.uid}`,
            `--regid=${options.uid}`,
            '--clear-groups',
            process.execPath,
            ...nodeArgs,
          ],
        ];
  const proc = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let onReady: () => void = () => {};
  let onEarlyExit: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onEarlyExit = reject;
  });
  ready.catch(() => {});
  let buffered = '';
  let stdoutDone: () => void = () => {};
  const stdoutClosed = new Promise<void>((resolve) => {
    stdoutDone = resolve;
  });
  const child: SuiteChild = {
    process: proc,
    pid: proc.pid ?? -1,
    lines: [],
    stderr: '',
    garbage: [],
    exited: undefined as never,
    ready,
    kill() {
      const at = Date.now();
      proc.kill('SIGKILL');
      return at;
    },
    send(line) {
      proc.stdin?.write(`${line}\n`);
    },
  };
  const handle = (text: string) => {
    if (text.trim() === '') return;
    let line: ChildLine;
    try {
      line = JSON.parse(text) as ChildLine;
    } catch {
      child.garbage.push(text);
      return;
    }
    options.onLine?.(line, child);
    child.lines.push(line);
    if (line.t === 'ready') onReady();
  };
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const part of parts) handle(part);
  });
  proc.stdout!.on('close', () => {
    handle(buffered);
    buffered = '';
    stdoutDone();
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    child.stderr += chunk;
  });
  proc.stdin!.on('error', () => {}); // EPIPE after the child died
  (child as { exited: SuiteChild['exited'] }).exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      void stdoutClosed.then(() => {
        const unhandled = child.lines.flatMap((l) => (l.t === 'unhandled' ? [l.error] : []));
        onEarlyExit(
          new Error(
            `child ${entry} exited (${code ?? signal}) before ready:\n${[...unhandled, child.stderr].join('\n')}`,
          ),
        );
        resolve({ code, signal });
      });
    });
  });
  return child;
}
