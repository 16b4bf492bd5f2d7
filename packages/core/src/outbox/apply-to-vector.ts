import type { VectorStore } from '../contracts/vector-store.js';
import type { StrategyContext } from '../contracts/write-strategy.js';
import type { VectorRecord } from '../record/types.js';
import { classifyFailure } from './failure-classification.js';

/**
 * Whether a vector write that failed with `error` may still reach the index later: any failure but a permanent
 * refusal (a timeout leaves the request to the server, or to a proxy holding it), on a store without a version
 * fence (a fenced store refuses the older state itself when it lands after a newer one).
 */
export function mayStillLand(vector: Pick<VectorStore, 'versionFence'>, error: unknown): boolean {
  return vector.versionFence !== true && classifyFailure(error) !== 'permanent';
}

/**
 * Upserts then deletes in as few calls as the store allows, counting them in `metrics.vectorCalls`
 * (one per `maxBatchSize` chunk the adapter sends) and `metrics.vectorRecords`. Afterwards (also after a
 * failed call) asks the store whether the index went back in time under it (`VectorStore.takeRewind`) and
 * hands the reason to `indexRewound`. A failed call on a store without a version fence that may still land (any
 * failure but a permanent refusal: a timeout leaves the request to the server) hands its ids to `writesInDoubt`.
 * @param options.ifNewer - version fence for the upserts (see `UpsertOptions.ifNewer`), and for the deletes
 *   listed in `deleteVersions` (`DeleteOptions.atMost`: each at the version of the tombstone it applies).
 * @returns the ids the fence left unwritten (always empty without `ifNewer` or on a store without a fence): upserts
 *   the store reported, and fenced deletes whose row is still there above its version (read back: a delete
 *   reports nothing).
 */
export async function applyToVector(
  ctx: Pick<StrategyContext, 'vector' | 'metrics' | 'indexRewound' | 'writesInDoubt'>,
  upserts: readonly VectorRecord[],
  deletes: readonly string[],
  options: { ifNewer?: boolean; deleteVersions?: ReadonlyMap<string, number> } = {},
): Promise<string[]> {
  const { vector, metrics } = ctx;
  let fenced: string[] = [];
  try {
    if (upserts.length > 0) {
      metrics.vectorCalls += Math.ceil(upserts.length / vector.maxBatchSize);
      const report = await vector.upsert(upserts, options.ifNewer ? { ifNewer: true } : undefined);
      if (report) fenced = report.fenced;
    }
    if (deletes.length > 0) {
      metrics.vectorCalls += Math.ceil(deletes.length / vector.maxBatchSize);
      const atMost = options.ifNewer && vector.versionFence ? options.deleteVersions : undefined;
      await vector.delete(deletes, atMost && atMost.size > 0 ? { atMost } : undefined);
      if (atMost && atMost.size > 0) {
        const left = await vector.getVersions([...atMost.keys()]);
        for (const [id, version] of left) if (version > atMost.get(id)!) fenced.push(id);
      }
    }
  } catch (error) {
    if (mayStillLand(vector, error)) ctx.writesInDoubt?.([...upserts.map((r) => r.id), ...deletes]);
    throw error;
  } finally {
    const rewind = vector.takeRewind?.();
    if (rewind !== undefined) ctx.indexRewound?.(rewind);
  }
  metrics.vectorRecords += upserts.length + deletes.length;
  return fenced;
}
