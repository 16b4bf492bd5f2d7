import type { StrategyContext } from '../contracts/write-strategy.js';
import { isForeignVersion } from '../record/version-range.js';
import { rebaseAboveIndex } from '../write/rebase-above-index.js';
import type { DeliveryItem } from './delivery-plan.js';

/**
 * Settles deliveries the index's version fence left unwritten — upserts, and deletes of tombstones — (the index
 * holds a higher version of the id).
 *
 * - The record moved on meanwhile (a newer write is pending): nothing to do; that write's own entry
 *   delivers the newer state.
 * - The record is still at the delivered version, yet the index holds a higher one, and no sync-2pc intent
 *   for it is live: the record is rewritten above it ({@link rebaseAboveIndex}). Either the index remembers
 *   versions the source of truth no longer has (one beyond the source's sequence: it went back in time), or —
 *   a version within the sequence — a sync-2pc write drew it, its vector call landed though it failed, and its
 *   compensation could not restore the index: that id alone needed the rewrite.
 * - A live intent: a sync-2pc writer may be about to commit the index's version; nothing is rewritten (the
 *   caller retries the entry after a poll interval, by when the intent has committed or expired).
 * - The index's version is beyond any a source hands out ({@link isForeignVersion}: another tool wrote the
 *   row): the row is deleted from the index, so the entry's next delivery writes the record again, and the
 *   index is reported to the guard (`indexRewound`), whose repair finds any other such row. The source's
 *   sequence is never moved past it.
 *
 * Runs one SQL transaction per id. The caller releases the items' leases afterwards (never acknowledges
 * them: their state did not reach the index). For versions beyond the source's sequence, emits
 * `version-regression` for the rewritten ids and reports the index to the guard (`indexRewound`): the source's
 * other records may be behind the index too. A version the source did hand out (an uncommitted sync-2pc write)
 * raises neither: the source did not go back in time (helper-57: the alarm and a full repair followed one
 * failed write during a vector outage).
 * @returns `blocked`: the ids waiting for a live sync-2pc intent (everything else is due again at once:
 *   rewritten at a fresh version, or superseded by a newer write).
 */
export async function rebaseFencedDeliveries(
  ctx: StrategyContext,
  fenced: readonly DeliveryItem[],
): Promise<{ blocked: string[] }> {
  if (fenced.length === 0) return { blocked: [] };
  const indexed = await ctx.vector.getVersions(fenced.map((i) => i.lease.recordId));
  const now = ctx.clock.now();
  const foreign = fenced.map((i) => i.lease.recordId).filter((id) => isForeignVersion(indexed.get(id) ?? 0));
  if (foreign.length > 0) {
    await ctx.vector.delete(foreign);
    ctx.indexRewound?.(
      `the index held version ${indexed.get(foreign[0]!)} of ${JSON.stringify(foreign[0])}${foreign.length > 1 ? ` (and ${foreign.length - 1} more ids)` : ''}, beyond any version a source hands out: written by another tool, replaced from the source of truth`,
    );
  }
  // Read before the rewrites below move it past the index's versions.
  const sequence = await ctx.relational.currentVersion();
  let highest = 0;
  const blocked: string[] = [];
  const rebased: string[] = [];
  // One transaction per id: it holds one id's lock at a time, so it cannot close a deadlock cycle with an
  // application transaction taking the same ids in another order (all of them in one transaction did).
  for (const item of fenced) {
    const id = item.lease.recordId;
    const indexVersion = indexed.get(id);
    if (indexVersion === undefined || isForeignVersion(indexVersion)) continue;
    const outcome = await rebaseAboveIndex(ctx.relational, id, item.version, indexVersion, now);
    if (outcome === 'blocked') blocked.push(id);
    if (outcome === 'rebased' && indexVersion > sequence) {
      highest = Math.max(highest, indexVersion);
      rebased.push(id);
    }
  }
  if (rebased.length > 0) {
    ctx.events.emit('version-regression', { ids: rebased, indexVersion: highest });
    // The other records the source holds at older states than the index are found by a full repair: only the
    // records delivered now were fenced, and moving the sequence hides the rest from the periodic check.
    ctx.indexRewound?.(
      `the index held version ${highest} of ${JSON.stringify(rebased[0])}${rebased.length > 1 ? ` (and ${rebased.length - 1} more ids)` : ''}, above the source's: the source went back in time (restored from a backup?); repaired from the source of truth`,
    );
  }
  return { blocked };
}
