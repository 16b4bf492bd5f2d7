import type { VectorStore } from '../contracts/vector-store.js';

/** The optional members of {@link VectorStore} a wrapper passes through. */
export type OptionalVectorCapabilities = Pick<
  VectorStore,
  | 'identity'
  | 'claimIndex'
  | 'stampCheckpoint'
  | 'maxVersion'
  | 'versionsInRange'
  | 'getRecords'
  | 'metadataKeyProblem'
  | 'embeddingProblem'
  | 'recordSizeProblem'
  | 'takeRewind'
  | 'maxConcurrentWrites'
>;

/**
 * The optional capabilities of `inner`, bound to it, for a wrapper store to expose as its own (present
 * exactly when `inner` has them, so callers' feature checks see the truth). `before` runs ahead of each
 * async call (a wrapper's latency or outage injection).
 *
 * @example
 * ```ts
 * class Wrapper implements VectorStore {
 *   declare readonly identity?: NonNullable<VectorStore['identity']>;
 *   constructor(readonly inner: VectorStore) { Object.assign(this, optionalCapabilities(inner)); }
 * }
 * ```
 */
export function optionalCapabilities(
  inner: VectorStore,
  before: () => Promise<void> = async () => {},
): Partial<OptionalVectorCapabilities> {
  const out: { -readonly [K in keyof OptionalVectorCapabilities]?: OptionalVectorCapabilities[K] } = {};
  const {
    identity,
    claimIndex,
    stampCheckpoint,
    maxVersion,
    versionsInRange,
    getRecords,
    metadataKeyProblem,
    embeddingProblem,
    recordSizeProblem,
    takeRewind,
  } = inner;
  if (identity)
    out.identity = async () => {
      await before();
      return identity.call(inner);
    };
  if (claimIndex)
    out.claimIndex = async (owner) => {
      await before();
      return claimIndex.call(inner, owner);
    };
  if (stampCheckpoint)
    out.stampCheckpoint = async (checkpoint) => {
      await before();
      return stampCheckpoint.call(inner, checkpoint);
    };
  if (maxVersion)
    out.maxVersion = async () => {
      await before();
      return maxVersion.call(inner);
    };
  if (versionsInRange)
    out.versionsInRange = async (range) => {
      await before();
      return versionsInRange.call(inner, range);
    };
  if (getRecords)
    out.getRecords = async (ids) => {
      await before();
      return getRecords.call(inner, ids);
    };
  if (metadataKeyProblem) out.metadataKeyProblem = (key) => metadataKeyProblem.call(inner, key);
  if (embeddingProblem) out.embeddingProblem = (embedding) => embeddingProblem.call(inner, embedding);
  if (recordSizeProblem) out.recordSizeProblem = (record) => recordSizeProblem.call(inner, record);
  if (takeRewind) out.takeRewind = () => takeRewind.call(inner);
  if (inner.maxConcurrentWrites !== undefined) out.maxConcurrentWrites = inner.maxConcurrentWrites;
  return out;
}
