import type { VectorStore } from '../contracts/vector-store.js';
import type { SyncMetrics } from '../facade/metrics.js';
import type { VectorRecord } from '../record/types.js';

/**
 * Upserts then deletes in as few calls as the store allows, counting them in `metrics.vectorCalls`
 * (one per `maxBatchSize` chunk the adapter sends) and `metrics.vectorRecords`.
 */
export async function applyToVector(
  vector: VectorStore,
  metrics: SyncMetrics,
  upserts: readonly VectorRecord[],
  deletes: readonly string[],
): Promise<void> {
  if (upserts.length > 0) {
    metrics.vectorCalls += Math.ceil(upserts.length / vector.maxBatchSize);
    await vector.upsert(upserts);
  }
  if (deletes.length > 0) {
    metrics.vectorCalls += Math.ceil(deletes.length / vector.maxBatchSize);
    await vector.delete(deletes);
  }
  metrics.vectorRecords += upserts.length + deletes.length;
}
