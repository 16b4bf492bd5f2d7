import { type ChildProcess, spawn } from 'node:child_process';

/** A child process that prints one JSON object per line on stdout, as multi-process tests run them. */
export interface LineChild<Line> {
  readonly child: ChildProcess;
  /** Every stdout line so far, parsed, in order. */
  readonly lines: Line[];
  /** Everything the child wrote to stderr so far. */
  readonly stderr: string;
  /** Resolves at the first line whose `type` is `'ready'`. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (`null` when a signal ended it). */
  readonly exit: Promise<number | null>;
}

/**
 * Runs `node --import tsx --conditions=source <entry> ...args` (TypeScript sources, no build) with `cwd`
 * and extra `env`, and collects its stdout as JSON lines (a line that is not JSON throws in the parser, so a
 * stray `console.log` in the child fails the test loudly).
 */
export function spawnLineChild<Line extends { type: string }>(
  entry: string,
  args: readonly string[],
  options: { cwd: string; env?: Readonly<Record<string, string>> },
): LineChild<Line> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', entry, ...args], {
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const state = { lines: [] as Line[], stderr: '' };
  let buffered = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const part of parts) {
      if (part.trim() === '') continue;
      const line = JSON.parse(part) as Line;
      state.lines.push(line);
      if (line.type === 'ready') onReady();
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    state.stderr += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines: state.lines,
    get stderr() {
      return state.stderr;
    },
    ready,
    exit,
  };
}
