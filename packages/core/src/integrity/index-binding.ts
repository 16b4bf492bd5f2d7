import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorIndexIdentity } from '../contracts/vector-store.js';
import { IndexBindingError } from '../errors.js';

/** Meta key under which the source of truth records the index it feeds. */
export const INDEX_BINDING_KEY = 'index-binding';

/** Meta key of the drift state: set from the moment a drift is found until its repair is enqueued. */
export const INDEX_DRIFT_KEY = 'index-drift';

/** A detected difference between the index and what the source of truth believes it holds. */
export interface IndexDrift {
  /** What was detected, for operators. */
  reason: string;
  /** When it was detected, Unix ms. */
  since: number;
}

/** Records a drift (every process sharing the source of truth then reports it until it is repaired). */
export async function recordDrift(relational: RelationalStore, drift: IndexDrift): Promise<void> {
  await relational.setMeta(INDEX_DRIFT_KEY, JSON.stringify(drift));
}

/**
 * The vector index (and embedder) a source of truth is bound to, stored as JSON under
 * {@link INDEX_BINDING_KEY}. Times are Unix ms.
 */
export interface IndexBinding extends VectorIndexIdentity {
  /** Id of the embedder that fills missing embeddings (`Embedder.id`), or `null` when none was configured. */
  embedder: string | null;
  /** When this binding was written. */
  boundAt: number;
}

/** What a process is configured with: the store's identity plus its embedder. */
export type ConfiguredIndex = VectorIndexIdentity & { embedder: string | null };

/** Outcome of {@link bindIndex}. */
export type BindingOutcome =
  /** First start, or the same index as before. */
  | { kind: 'bound' }
  /** The same table/collection name, but another instance: it was dropped and recreated underneath us. */
  | { kind: 'replaced'; reason: string }
  /** `rebind` mode: the configuration named another index; the binding now points at it. */
  | { kind: 'rebound'; reason: string };

/** Fields that make a configuration name another index (or embedder) than the bound one. */
const CONFIG_FIELDS = ['backend', 'location', 'collection', 'dimension'] as const;

/** Reads the stored binding, or `undefined` when the source was never bound (or the JSON is unreadable). */
export async function readBinding(relational: RelationalStore): Promise<IndexBinding | undefined> {
  const raw = await relational.getMeta(INDEX_BINDING_KEY);
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as IndexBinding;
  } catch {
    return undefined;
  }
}

/**
 * Checks the configured index against the binding the source of truth holds, and records it.
 *
 * - No binding yet: this index becomes the binding.
 * - Another backend, location, collection, dimension, or embedder (when both name one): throws
 *   {@link IndexBindingError} in `'verify'` mode; in `'rebind'` mode the binding moves to the configured
 *   index and the outcome is `rebound` (the caller repairs the new index).
 * - Same configuration, another `instanceId`: the table or collection was dropped and recreated; the
 *   binding moves to the new instance and the outcome is `replaced` (the caller repairs it).
 *
 * A drift (`replaced`, `rebound`) is recorded under {@link INDEX_DRIFT_KEY} *before* the binding moves,
 * so a crash in between can never leave a moved binding with nobody knowing the index needs a repair.
 *
 * @throws {IndexBindingError} as above.
 */
export async function bindIndex(
  relational: RelationalStore,
  configured: ConfiguredIndex,
  mode: 'verify' | 'rebind',
  now: number,
): Promise<BindingOutcome> {
  const bound = await readBinding(relational);
  const write = (embedder: string | null) =>
    relational.setMeta(INDEX_BINDING_KEY, JSON.stringify({ ...configured, embedder, boundAt: now }));
  if (!bound) {
    await write(configured.embedder);
    return { kind: 'bound' };
  }
  const differs: string[] = CONFIG_FIELDS.filter((f) => bound[f] !== configured[f]);
  if (bound.embedder !== null && configured.embedder !== null && bound.embedder !== configured.embedder)
    differs.push('embedder');
  if (differs.length > 0) {
    if (mode === 'verify') throw new IndexBindingError(differs, { ...bound }, { ...configured });
    const reason = `rebound from ${describe(bound)} to ${describe(configured)}`;
    await recordDrift(relational, { reason, since: now });
    await write(configured.embedder ?? bound.embedder);
    return { kind: 'rebound', reason };
  }
  const embedder = bound.embedder ?? configured.embedder;
  if (bound.instanceId !== configured.instanceId && configured.instanceId !== null) {
    if (bound.instanceId === null) {
      await write(embedder); // the first time this backend reports an instance
      return { kind: 'bound' };
    }
    const reason = `${describe(configured)} is another instance (${bound.instanceId} → ${configured.instanceId}): it was dropped and recreated`;
    await recordDrift(relational, { reason, since: now });
    await write(embedder);
    return { kind: 'replaced', reason };
  }
  if (embedder !== bound.embedder) await write(embedder);
  return { kind: 'bound' };
}

function describe(index: VectorIndexIdentity): string {
  return `${index.backend} "${index.collection}" at ${index.location}`;
}
