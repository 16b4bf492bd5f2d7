/**
 * When the late-write watch looks: each id at 2 s, 10 s, 60 s and 300 s after it was suspected — also an id
 * suspected while the timer waits for another's later look — and, for an id still in flight at a look (its
 * redelivery waiting out an outage), counted again from that look, so the looks follow its delivery.
 * A break-it round saw both go wrong on Chroma: a second takeover's late write stayed 179 s (until the first
 * id's 300 s look), and one delivered 73 s after its takeover was looked at only at the 300 s look.
 *
 * The stores here are the watch's view of SQL and the index (an outbox entry, a synced version, an index
 * version per id), under fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RelationalStore } from '../src/contracts/relational-store.js';
import type { VectorStore } from '../src/contracts/vector-store.js';
import { LATE_WRITE_CHECKS_MS, LateWriteWatch } from '../src/integrity/late-write-watch.js';

/** Per id: whether an outbox entry is pending, the acknowledged version, and the version the index holds. */
type Row = { pending: boolean; synced: number; indexed: number };

function watchOver(rows: Map<string, Row>) {
  const relational = {
    getOutboxEntry: async (id: string) => (rows.get(id)?.pending ? { recordId: id } : undefined),
    getRecords: async (ids: readonly string[]) =>
      new Map(
        ids.flatMap((id) => {
          const row = rows.get(id);
          return row ? [[id, { id, version: row.synced, syncedVersion: row.synced, deleted: false }]] : [];
        }),
      ),
    enqueueRepairs: async (ids: readonly string[]) => {
      for (const id of ids) rows.get(id)!.pending = true;
      return ids.length;
    },
  } as unknown as RelationalStore;
  const vector = {
    getVersions: async (ids: readonly string[]) => new Map(ids.map((id) => [id, rows.get(id)!.indexed])),
  } as unknown as VectorStore;
  const repaired: string[] = [];
  const watch = new LateWriteWatch({
    relational,
    vector,
    clock: { now: () => Date.now(), sleep: async () => {} } as never,
    repaired: (ids) => repaired.push(...ids),
    failed: (error) => {
      throw error;
    },
  });
  return { watch, repaired };
}

describe('late-write watch schedule', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('looks at an id 2 s after it is suspected, also while the timer waits for an older id’s later look', async () => {
    const rows = new Map<string, Row>([
      ['a', { pending: false, synced: 1, indexed: 1 }],
      ['b', { pending: false, synced: 2, indexed: 2 }],
    ]);
    const { watch, repaired } = watchOver(rows);
    watch.suspect(['a']);
    await vi.advanceTimersByTimeAsync(70_000); // a's 2 s, 10 s and 60 s looks: the timer now waits for 300 s
    watch.suspect(['b']);
    rows.get('b')!.indexed = 1; // b's late write landed
    await vi.advanceTimersByTimeAsync(LATE_WRITE_CHECKS_MS[0]! + 100);
    expect(repaired, 'b repaired at its own first look').toEqual(['b']);
    await watch.stop();
  });

  it('counts the looks of an id still in flight again from the look that found it in flight', async () => {
    const rows = new Map<string, Row>([['c', { pending: true, synced: 1, indexed: 1 }]]);
    const { watch, repaired } = watchOver(rows);
    watch.suspect(['c']); // taken over while its redelivery waits out an outage
    await vi.advanceTimersByTimeAsync(73_000); // three looks, each finding it in flight
    rows.set('c', { pending: false, synced: 2, indexed: 2 }); // delivered at last
    await vi.advanceTimersByTimeAsync(30_000);
    rows.get('c')!.indexed = 1; // the earlier claimer's write lands
    await vi.advanceTimersByTimeAsync(LATE_WRITE_CHECKS_MS[2]!);
    expect(repaired, 'looked at within 60 s of landing, not at the 300 s look').toEqual(['c']);
    expect(watch.size, 'one entry for c, not one per look').toBeLessThanOrEqual(1);
    await watch.stop();
  });
});
