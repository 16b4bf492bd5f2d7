/**
 * Helpers for the suite's child processes (writer and drain worker entry points).
 *
 * @packageDocumentation
 */
import { writeSync } from 'node:fs';
import type { ChildLine } from './protocol.js';

let blocking = false;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Prints one protocol line on stdout **synchronously**: when this returns, the line is in the kernel's pipe
 * buffer and reaches the parent even if the process is SIGKILLed right after.
 *
 * `process.stdout.write` is not enough: on a pipe to a parent it queues the write in memory once the pipe
 * buffer is full, and a SIGKILL then loses every queued line (measured: 279 of 20,000 lines arrived). So the
 * pipe is switched to blocking mode and written with `fs.writeSync`, retrying on `EAGAIN`.
 */
export function emit(line: ChildLine): void {
  if (!blocking) {
    (
      process.stdout as unknown as { _handle?: { setBlocking?: (b: boolean) => void } }
    )._handle?.setBlocking?.(true);
    blocking = true;
  }
  const bytes = Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset, bytes.length - offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** Describes anything thrown, for a protocol line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Turns unhandled rejections and uncaught exceptions into an `unhandled` line and exit code 70, so the parent
 * can tell a handled error (a typed failure of one call) from one that escaped.
 */
export function reportUnhandled(): void {
  const fatal = (error: unknown) => {
    emit({ t: 'unhandled', error: describeError(error) });
    process.exit(70);
  };
  process.on('unhandledRejection', fatal);
  process.on('uncaughtException', fatal);
}

/** Reads the JSON config passed as the first argument. */
export function readConfig<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: <entry> <json config>');
  return JSON.parse(raw) as T;
}
