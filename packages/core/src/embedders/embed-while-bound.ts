import type { VectorStore } from '../contracts/vector-store.js';
import type { StrategyContext } from '../contracts/write-strategy.js';
import { ValidationError } from '../errors.js';
import type { EmbeddingService } from './embedding-service.js';

/**
 * Embeds `texts` for storing or indexing, checking before and after the embedder runs that the source is still
 * bound to this process's embedder (`StrategyContext.assertEmbedderBound`): a model behind HTTP takes seconds,
 * and another process may rebind the source to another embedder meanwhile — its vectors must then be neither
 * stored nor indexed.
 * @throws {IndexBindingError} on field `embedder` when the binding names another embedder; what the embedder
 *   throws.
 */
export async function embedWhileBound(
  ctx: Pick<StrategyContext, 'assertEmbedderBound'>,
  embeddings: EmbeddingService,
  texts: readonly string[],
  options: Pick<Parameters<EmbeddingService['embed']>[1] & object, 'cacheFailure'> = {},
): Promise<number[][]> {
  await ctx.assertEmbedderBound?.();
  const vectors = await embeddings.embed(texts, options);
  await ctx.assertEmbedderBound?.();
  return vectors;
}

/**
 * Refuses a vector the embedder returned for record `id` that the index would store but never find (a zero
 * vector under cosine distance: `VectorStore.embeddingProblem`), as the facade refuses one the caller gives.
 * @returns the error for it, or `undefined`.
 */
export function unsearchableEmbedding(
  vector: Pick<VectorStore, 'embeddingProblem'>,
  embeddings: EmbeddingService,
  id: string,
  embedding: readonly number[],
): ValidationError | undefined {
  const problem = vector.embeddingProblem?.(embedding);
  if (problem === undefined) return undefined;
  return new ValidationError(
    `embedder(${embeddings.embedder.id})`,
    `for record ${JSON.stringify(id)}: ${problem}`,
    {
      limit: 'a vector the index can search',
    },
  );
}
