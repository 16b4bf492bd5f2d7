import type { VectorStore } from '../contracts/vector-store.js';
import type { SyncMetrics } from '../facade/metrics.js';
import type { VectorRecord } from '../record/types.js';

/**
 * Upserts then deletes in as few calls as the store allows, counting them in `metrics.vectorCalls`
 * (one per `maxBatchSize` chunk the adapter sends) and `metrics.vectorRecords`.
 * @param options.ifNewer - version fence for the upserts (see `UpsertOptions.ifNewer`).
 * @returns the ids the fence left unwritten (always empty without `ifNewer` or on a store without a fence).
 */
export async function applyToVector(
  vector: VectorStore,
  metrics: SyncMetrics,
  upserts: readonly VectorRecord[],
  deletes: readonly string[],
  options: { ifNewer?: boolean } = {},
): Promise<string[]> {
  let fenced: string[] = [];
  if (upserts.length > 0) {
    metrics.vectorCalls += Math.ceil(upserts.length / vector.maxBatchSize);
    const report = await vector.upsert(upserts, options.ifNewer ? { ifNewer: true } : undefined);
    if (report) fenced = report.fenced;
  }
  if (deletes.length > 0) {
    metrics.vectorCalls += Math.ceil(deletes.length / vector.maxBatchSize);
    await vector.delete(deletes);
  }
  metrics.vectorRecords += upserts.length + deletes.length;
  return fenced;
}
