/**
 * The double-delivery check of the concurrency suite: no id may be written to the vector store by two calls
 * at the same time, across every process.
 *
 * @packageDocumentation
 */

/** A vector write call as traced by a process (times in µs on the system-wide monotonic clock). */
export interface CallInterval {
  who: string;
  op: 'upsert' | 'delete';
  ids: readonly string[];
  begin: number;
  end: number;
}

/** Two calls that had one id in flight at the same time. */
export interface Overlap {
  id: string;
  first: CallInterval;
  second: CallInterval;
}

/**
 * Every pair of calls whose time ranges intersect while carrying the same id (a call that ends exactly when
 * the next begins does not overlap). O(n log n) per id.
 */
export function findOverlaps(calls: readonly CallInterval[]): Overlap[] {
  const byId = new Map<string, CallInterval[]>();
  for (const call of calls)
    for (const id of new Set(call.ids)) {
      const list = byId.get(id) ?? [];
      list.push(call);
      byId.set(id, list);
    }
  const overlaps: Overlap[] = [];
  for (const [id, list] of byId) {
    list.sort((a, b) => a.begin - b.begin);
    let latest = list[0]!;
    for (const call of list.slice(1)) {
      if (call.begin < latest.end) overlaps.push({ id, first: latest, second: call });
      if (call.end > latest.end) latest = call;
    }
  }
  return overlaps;
}
