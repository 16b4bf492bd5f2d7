/**
 * The invariants every multi-process drain test asserts (writers and drain workers in their own processes,
 * sharing one outbox): one delivery of an id at a time, every worker delivering, every call acknowledged.
 */
import { expect } from 'vitest';
import { WriterLedger } from '../src/ledger.js';
import { type CallInterval, findOverlaps } from '../src/overlap.js';
import type { ChildLine } from '../src/protocol.js';

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
