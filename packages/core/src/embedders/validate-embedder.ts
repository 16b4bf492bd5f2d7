import type { Embedder } from '../contracts/embedder.js';
import { ValidationError } from '../errors.js';
import { describeValue } from '../util/describe-value.js';

/**
 * Checks the shape of a configured {@link Embedder} when the facade is created, so a missing member is a
 * typed error at `createDualWrite` instead of writes accepted now and dead-lettered by the drain later.
 * @throws {ValidationError} naming `embedder` (a Promise), `embedder.id` (not a non-empty string),
 *   `embedder.dimension` or `embedder.maxBatchSize` (not a positive integer), or `embedder.embed` (not a
 *   function).
 */
export function validateEmbedder(embedder: Embedder): void {
  if (typeof (embedder as { then?: unknown }).then === 'function')
    throw new ValidationError('embedder', 'is a Promise, not an Embedder: await it first');
  const { id, dimension, maxBatchSize, embed } = embedder as Partial<Embedder>;
  if (typeof id !== 'string' || id.length === 0)
    throw new ValidationError('embedder.id', `must be a non-empty string, got ${describeValue(id)}`);
  for (const [field, value] of [
    ['dimension', dimension],
    ['maxBatchSize', maxBatchSize],
  ] as const)
    if (!Number.isInteger(value) || (value as number) < 1)
      throw new ValidationError(
        `embedder.${field}`,
        `must be a positive integer, got ${describeValue(value)}`,
        {
          limit: '>= 1',
        },
      );
  if (typeof embed !== 'function')
    throw new ValidationError(
      'embedder.embed',
      `must be a function (texts) => embeddings, got ${describeValue(embed)}`,
    );
}
