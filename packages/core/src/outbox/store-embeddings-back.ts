import { setEmbedding, setEmbeddings } from '../contracts/relational-operations.js';
import type { EmbeddingUpdate, RelationalStore } from '../contracts/relational-store.js';
import { asDualwriteError } from '../errors.js';

/** Why one embedding was not stored back: what the relational store threw for it. */
export interface StoreBackFailure {
  error: unknown;
}

/**
 * Stores the embeddings a delivery computed back on their records (the source of truth keeps what the index
 * gets): all in one call; when that fails for a reason that may be one row's — a row another session holds, a
 * trigger refusing a row — each again on its own, so that record fails alone and the others are stored. When the store as a whole cannot be used (unreachable, closed) every update
 * fails with that error at once.
 * @returns per update, in order, its failure, or `undefined` when it was stored or its record moved on.
 */
export async function storeEmbeddingsBack(
  relational: RelationalStore<unknown>,
  updates: readonly EmbeddingUpdate[],
): Promise<(StoreBackFailure | undefined)[]> {
  if (updates.length === 0) return [];
  try {
    await setEmbeddings(relational, updates);
    return updates.map(() => undefined);
  } catch (error) {
    if (updates.length === 1 || storeWide(error)) return updates.map(() => ({ error }));
    return Promise.all(
      updates.map((u) =>
        setEmbedding(relational, u.id, u.version, u.embedding).then(
          () => undefined,
          (failed: unknown) => ({ error: failed }),
        ),
      ),
    );
  }
}

/** Whether `error` says the store cannot be used at all, so that trying its records one by one would not help. */
function storeWide(error: unknown): boolean {
  const code = asDualwriteError(error)?.code;
  return code === 'BACKEND_UNAVAILABLE' || code === 'CLOSED';
}
