/**
 * The invariants every multi-process drain test asserts (writers and drain workers in their own processes,
 * sharing one outbox): one delivery of an id at a time, every worker delivering, every call acknowledged.
 */
import { expect } from 'vitest';
import { openRelationalStore } from '../src/backends.js';
import type { SuiteChild } from '../src/child.js';
import { WriterLedger } from '../src/ledger.js';
import { type CallInterval, findOverlaps } from '../src/overlap.js';
import type { ChildLine, RelationalBackendSpec } from '../src/protocol.js';
import { waitFor } from './helpers.js';

/** How a child process ended (`SuiteChild.exited`). */
type Exit = { code: number | null; signal: NodeJS.Signals | null };

/**
 * Each child exited 0 and finished its protocol (`done` last), printed nothing that is not a JSON line, and
 * neither reported an unhandled error nor printed one (`stderrMustNotMatch`). The unhandled error a child
 * reported leads each message, so a failure says why the child died, not only that it did.
 */
export function expectCleanExits(
  children: readonly (Traced & { readonly stderr: string; readonly garbage: readonly string[] })[],
  exits: readonly Exit[],
  stderrMustNotMatch: RegExp,
): void {
  for (const [i, c] of children.entries()) {
    const unhandled = c.lines.flatMap((l) => (l.t === 'unhandled' ? [l.error] : []));
    const why = `child ${i}: ${unhandled.join('\n') || '(no unhandled error reported)'}\nstderr:\n${c.stderr}`;
    expect(unhandled, why).toEqual([]);
    expect(exits[i], why).toEqual({ code: 0, signal: null });
    expect(c.stderr, why).not.toMatch(stderrMustNotMatch);
    expect(c.garbage, why).toEqual([]);
    expect(c.lines.at(-1)?.t, `child ${i} finished`).toBe('done');
  }
}

/** A process's trace: the JSON lines it printed. */
interface Traced {
  readonly lines: readonly ChildLine[];
}

/** A traced vector call, and whether it succeeded. */
export type TracedCall = CallInterval & { ok: boolean };

/** The vector calls the processes traced (`vcall` lines), times in µs on the system-wide monotonic clock. */
export function tracedVectorCalls(processes: readonly Traced[]): TracedCall[] {
  return processes.flatMap((p) =>
    p.lines.flatMap((l) =>
      l.t === 'vcall' ? [{ who: l.who, op: l.op, ids: l.ids, begin: l.b, end: l.e, ok: l.ok }] : [],
    ),
  );
}

/**
 * Every one of `workers` drain workers (`worker-<i>`) delivered, writers whose delivery was paused
 * delivered nothing, and no id was in flight in two vector calls at once, across all processes.
 */
export function expectOneDeliveryAtATime(
  calls: readonly TracedCall[],
  workers: number,
  pausedWriters: readonly Traced[],
): void {
  const deliverers = new Set(calls.map((c) => c.who));
  for (let i = 0; i < workers; i++) expect(deliverers, 'every worker delivered').toContain(`worker-${i}`);
  for (const w of pausedWriters)
    expect(
      w.lines.some((l) => l.t === 'vcall'),
      'paused writers deliver nothing',
    ).toBe(false);
  const overlaps = findOverlaps(calls);
  expect(overlaps.slice(0, 5), `${overlaps.length} overlapping deliveries`).toEqual([]);
}

/** Each writer acknowledged all `calls` of its workload and none failed for good; their ledgers, in order. */
export function expectEveryCallAcknowledged(writers: readonly Traced[], calls: number): WriterLedger[] {
  const ledgers = writers.map((w) => {
    const ledger = new WriterLedger();
    for (const l of w.lines) ledger.apply(l);
    return ledger;
  });
  for (const [i, l] of ledgers.entries()) {
    expect(l.failed, `writer ${i} failures: ${JSON.stringify([...l.failures])}`).toBe(0);
    expect(l.acks, `writer ${i} acknowledged every call`).toBe(calls);
  }
  return ledgers;
}

/** Waits (up to 60 s) for the drain workers to empty the outbox of `relational`, then stops them; their exits. */
export async function drainedThenStopped(
  relational: RelationalBackendSpec,
  workers: readonly SuiteChild[],
): Promise<Exit[]> {
  const probe = await openRelationalStore(relational);
  try {
    await waitFor(
      async () => (await probe.outboxStats(Date.now())).depth === 0,
      60_000,
      'the workers to drain',
    );
  } finally {
    await probe.close();
  }
  for (const w of workers) w.send('stop');
  return Promise.all(workers.map((w) => w.exited));
}
