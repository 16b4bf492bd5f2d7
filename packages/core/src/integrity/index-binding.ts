import { randomUUID } from 'node:crypto';
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorIndexIdentity } from '../contracts/vector-store.js';
import { IndexBindingError } from '../errors.js';
import { recordEmbedderChange } from './embedder-change.js';

/** Meta key under which the source of truth records the index it feeds. */
export const INDEX_BINDING_KEY = 'index-binding';

/** Meta key of the drift state: set from the moment a drift is found until its repair is enqueued. */
export const INDEX_DRIFT_KEY = 'index-drift';

/**
 * Meta key of when the latest repair (of any process) had enqueued its repairs, Unix ms of that process's
 * clock: a flush waits for the entries enqueued before it.
 */
export const INDEX_REPAIRED_AT_KEY = 'index-repaired-at';

/** A detected difference between the index and what the source of truth believes it holds. */
export interface IndexDrift {
  /** What was detected, for operators. */
  reason: string;
  /** When it was detected, Unix ms. */
  since: number;
  /**
   * Recorded by a process whose delivery is held off the binding (its index misses the bound one's checkpoint):
   * it never repairs this itself, so any other process repairs it at once, without waiting for it to.
   */
  forOthers?: boolean;
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

/** What a process is configured with: the store's identity (with the index's `owner`) plus its embedder. */
export type ConfiguredIndex = VectorIndexIdentity & { embedder: string | null };

/**
 * Stamps `token` on the index itself (`VectorStore.claimIndex`, replacing any), so a second source of truth
 * configured with the same index is refused; {@link bindIndex} compares it with `identity().owner`.
 */
export type ClaimIndex = (token: string) => Promise<void>;

/**
 * Counts rows dualwrite did not write among the first ones of an index (no version of dualwrite's sequence,
 * which starts at 1: another application's rows), so an unstamped index of another application is not
 * claimed ({@link bindIndex}).
 */
export type ForeignRows = () => Promise<{ foreign: number; sampled: number }>;

/**
 * Meta key of this source of truth's owner token: a UUID drawn once (`RelationalStore.insertMeta`, so
 * processes starting at once agree on it) and stamped on the index it feeds ({@link ClaimIndex}).
 */
export const SOURCE_TOKEN_KEY = 'source-token';

/**
 * This source of truth's owner token ({@link SOURCE_TOKEN_KEY}) as stored, without drawing one: `null` before any
 * process drew it (a process that only inspects — `readOnly` — writes nothing to the source, which its
 * operator may reach with read-only credentials).
 */
async function storedSourceToken(relational: RelationalStore): Promise<string | null> {
  return (await relational.getMeta(SOURCE_TOKEN_KEY)) ?? null;
}

/** This source of truth's owner token ({@link SOURCE_TOKEN_KEY}), drawn on first use. */
export async function sourceToken(relational: RelationalStore): Promise<string> {
  if (relational.insertMeta) return relational.insertMeta(SOURCE_TOKEN_KEY, randomUUID());
  const held = await relational.getMeta(SOURCE_TOKEN_KEY);
  if (held !== undefined) return held;
  await relational.setMeta(SOURCE_TOKEN_KEY, randomUUID());
  return (await relational.getMeta(SOURCE_TOKEN_KEY))!;
}

/** Outcome of {@link bindIndex}. */
export type BindingOutcome =
  /**
   * First start, or the same index as before. `elsewhere`: reached at another place than the binding records (a
   * bind mount, another spelling of a server's URL), holding the bound index's latest checkpoint.
   */
  | { kind: 'bound'; elsewhere?: true }
  /** The same table/collection name, but another instance: it was dropped and recreated underneath us. */
  | { kind: 'replaced'; reason: string }
  /** `rebind` mode: the configuration named another index; the binding now points at it. */
  | { kind: 'rebound'; reason: string }
  /**
   * The bound index itself, reached at another location or name (its directory moved or reached through
   * another path, its server's URL spelled another way, the collection renamed): the same instance, carrying
   * this source's owner token. The binding now records where it is. `repair` says why it needs one: it holds an
   * older index checkpoint than the source stamped (an older copy of the bound index, restored here).
   */
  | { kind: 'moved'; reason: string; repair?: string };

/**
 * The index checkpoint of the configured index, which tells the bound index reached at another place from a copy
 * of it (see `checkpointBehind`, `restampCheckpoint`).
 */
export interface CheckpointProbe {
  /** The checkpoint the index holds and the one the source recorded, when it holds less; else `undefined`. */
  behind(): Promise<{ held: number; recorded: number } | undefined>;
  /** Stamps a checkpoint above both the index's and the source's: a copy of this index elsewhere falls behind. */
  restamp(): Promise<void>;
}

/** Fields that make a configuration name another index (or embedder) than the bound one. */
const CONFIG_FIELDS = ['backend', 'location', 'collection', 'dimension'] as const;

/** Fields that may differ when the bound index itself is found elsewhere ({@link BindingOutcome} `moved`). */
const WHERE_FIELDS: readonly string[] = ['location', 'collection'];

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
 *   index and the outcome is `rebound` (the caller repairs the new index). Another embedder is also recorded
 *   ({@link recordEmbedderChange}): the repair first clears the embeddings the old one filled.
 * - Another location or collection name only, for the bound index itself — the same `instanceId` (never
 *   `null`) and, on a store with owner tokens, this source's token on it: a moved directory, a path through a
 *   bind mount, a server URL spelled another way — or a *copy* of the bound index, which carries all of that too.
 *   The index checkpoint (`options.checkpoint`) tells them apart: every checkpoint the source recorded was
 *   stamped on the bound index, so a copy holds less once the bound one was stamped after the copy was taken.
 *   With `allowMove` (a start) the outcome is `moved`: an index behind the source's checkpoint is an older copy
 *   put here on purpose (a drift is recorded, `repair` says why), and a checkpoint is stamped above both before
 *   the binding records this place — so a process still feeding a copy left at the old place is behind from then
 *   on. Without `allowMove` (a periodic check, or the check of an ack: another process reaching the index its own
 *   way may have recorded its place) it is `bound`, unless the index is behind the source's checkpoint: then it
 *   is a copy of the bound index and another process moved the binding to the other one ({@link
 *   IndexBindingError} on field `checkpoint` in `'verify'` mode). Before, a process left feeding a copy was
 *   taken for one reaching the bound index another way: each side's periodic check found the other's checkpoint
 *   and repaired its own copy again and again, and records read synced while the bound copy lacked them.
 * - Same configuration, another `instanceId` (or none where there was one): the table or collection was
 *   dropped and recreated; the binding moves to the new instance and the outcome is `replaced` (the caller
 *   repairs it).
 * - With `claimIndex` (a store that has it): the index must carry this source's owner token, or none
 *   (it is then stamped). One stamped by another source of truth throws {@link IndexBindingError} on field
 *   `owner` in `'verify'` mode; in `'rebind'` mode it is taken over and the outcome is `rebound` (the caller
 *   repairs it). An unstamped one holding rows dualwrite did not write (`foreignRows` counts them among the
 *   first ones) is another application's table or collection: {@link IndexBindingError} on field `rows` in
 *   `'verify'` mode, since stamping it would let the repair delete that application's rows as orphans.
 *
 * A drift (`replaced`, `rebound`) is recorded under {@link INDEX_DRIFT_KEY} *before* the binding moves,
 * so a crash in between can never leave a moved binding with nobody knowing the index needs a repair.
 *
 * With `readOnly` (a process that inspects and repairs nothing: the operator's `status`, `verify`,
 * `reconcile --dry-run`) the same checks run and throw, and the outcome says what a start would find, but
 * nothing is written: no binding on a fresh source, no owner token drawn, no owner stamp on the index, no drift
 * record.
 *
 * @param options.allowMove - a start: the bound index found at another place moves the binding (`moved`).
 * @param options.readOnly - write nothing (see above; in `'rebind'` mode the outcome says what a rebind would do).
 * @param options.checkpoint - the configured index's checkpoint; without it (a store without checkpoints) a copy
 *   of the bound index at another place is taken for the bound one.
 * @throws {IndexBindingError} as above.
 */
export async function bindIndex(
  relational: RelationalStore,
  configured: ConfiguredIndex,
  mode: 'verify' | 'rebind',
  now: number,
  claimIndex?: ClaimIndex,
  foreignRows?: ForeignRows,
  options: { allowMove?: boolean; readOnly?: boolean; checkpoint?: CheckpointProbe } = {},
): Promise<BindingOutcome> {
  const { allowMove = false, readOnly = false, checkpoint } = options;
  const { owner: held = null, ...index } = configured;
  const bound = await readBinding(relational);
  const write = async (embedder: string | null) => {
    if (!readOnly)
      await relational.setMeta(INDEX_BINDING_KEY, JSON.stringify({ ...index, embedder, boundAt: now }));
  };
  const drifted = async (drift: { reason: string; since: number }) => {
    if (!readOnly) await recordDrift(relational, drift);
  };
  /** Stamps the index (see {@link ownIndex}); when it was taken over, records why it needs a repair. */
  const own = async (): Promise<string | undefined> => {
    const taken = claimIndex
      ? await ownIndex(relational, mode, held, readOnly ? undefined : claimIndex, foreignRows)
      : undefined;
    if (taken === undefined) return undefined;
    const reason = `${describe(index)} was fed by another source of truth (owner ${taken}); taken over (indexBinding: 'rebind')`;
    await drifted({ reason, since: now });
    return reason;
  };
  if (!bound) {
    const taken = await own();
    await write(index.embedder);
    return taken ? { kind: 'rebound', reason: taken } : { kind: 'bound' };
  }
  const differs: string[] = CONFIG_FIELDS.filter((f) => bound[f] !== index[f]);
  if (bound.embedder !== null && index.embedder !== null && bound.embedder !== index.embedder)
    differs.push('embedder');
  if (differs.length > 0) {
    if (await sameIndexElsewhere(relational, bound, configured, differs, claimIndex, readOnly)) {
      const behind = await checkpoint?.behind();
      if (allowMove && !readOnly) {
        const repair =
          behind &&
          `${describe(index)} holds index checkpoint ${behind.held}, below the ${behind.recorded} stamped on the bound index (${describe(bound)}): an older copy of it`;
        if (repair) await drifted({ reason: repair, since: now });
        await checkpoint?.restamp();
        await write(bound.embedder ?? index.embedder);
        // A check elsewhere (on the copy left behind, say) may have recorded a higher checkpoint meanwhile: this
        // index, the bound one from now on, must hold the highest, or the other would not read as behind.
        for (let attempt = 1; checkpoint && attempt <= 3 && (await checkpoint.behind()); attempt++)
          await checkpoint.restamp();
        const reason = `${describe(bound)} is now reached as ${describe(index)}`;
        return repair ? { kind: 'moved', reason, repair } : { kind: 'moved', reason };
      }
      // Another process may reach it another way (a bind mount, another URL) and have recorded its own: still
      // the bound index, unless this one missed a checkpoint the source stamped on the bound index.
      if (!behind) return { kind: 'bound', elsewhere: true };
      if (mode === 'verify') {
        const at = (i: VectorIndexIdentity, checkpoint: number) => ({
          location: i.location,
          collection: i.collection,
          checkpoint,
        });
        throw new IndexBindingError(['checkpoint'], at(bound, behind.recorded), at(index, behind.held));
      }
    } else if (mode === 'verify') throw new IndexBindingError(differs, { ...bound }, { ...index });
    const reason = `rebound from ${describe(bound)} to ${describe(index)}`;
    await drifted({ reason, since: now });
    if (differs.includes('embedder') && !readOnly)
      await recordEmbedderChange(relational, { from: bound.embedder!, to: index.embedder!, since: now });
    await own();
    await write(index.embedder ?? bound.embedder);
    return { kind: 'rebound', reason };
  }
  const embedder = bound.embedder ?? index.embedder;
  const taken = await own();
  if (taken) {
    await write(embedder);
    return { kind: 'rebound', reason: taken };
  }
  if (bound.instanceId !== index.instanceId) {
    if (bound.instanceId === null) {
      await write(embedder); // the first time this backend reports an instance
      return { kind: 'bound' };
    }
    // An instance id gone (`null`): the table was recreated by something that does not stamp one.
    const reason = `${describe(index)} is another instance (${bound.instanceId} → ${index.instanceId ?? 'none'}): it was dropped and recreated`;
    await drifted({ reason, since: now });
    await write(embedder);
    return { kind: 'replaced', reason };
  }
  if (embedder !== bound.embedder) await write(embedder);
  return { kind: 'bound' };
}

/**
 * Whether the configured index is the bound one reached at another place: only `location` / `collection`
 * differ, it reports the bound `instanceId` (a UUID of that table or collection instance), and — on a store
 * with owner tokens (`claimIndex`) — it carries this source's token. Another index with a copied instance id
 * but someone else's token, or one without an instance id, is not taken for the bound one.
 */
async function sameIndexElsewhere(
  relational: RelationalStore,
  bound: IndexBinding,
  configured: ConfiguredIndex,
  differs: readonly string[],
  claimIndex: ClaimIndex | undefined,
  readOnly: boolean,
): Promise<boolean> {
  if (!differs.every((f) => WHERE_FIELDS.includes(f))) return false;
  if (bound.instanceId === null || configured.instanceId !== bound.instanceId) return false;
  if (!claimIndex) return true;
  const ours = readOnly ? await storedSourceToken(relational) : await sourceToken(relational);
  return configured.owner != null && configured.owner === ours;
}

/**
 * Makes sure the index — whose owner token is `held` — carries this source's ({@link sourceToken}): an index
 * holding it is ours;
 * an unstamped one (new, recreated, restored from a backup made before stamping) is stamped; one stamped by
 * another source of truth is refused in `'verify'` mode and taken over in `'rebind'` mode (the caller's repair
 * then removes the other source's rows).
 * @returns the other source's token when the index was taken over from it, else `undefined`.
 * @throws {IndexBindingError} on field `owner` when another source of truth feeds the index, on field `rows`
 *   when an unstamped index holds rows dualwrite did not write (`'verify'`).
 */
async function ownIndex(
  relational: RelationalStore,
  mode: 'verify' | 'rebind',
  held: string | null,
  /** `undefined`: check only, stamp nothing and draw no token (`readOnly`). */
  claimIndex: ClaimIndex | undefined,
  foreignRows?: ForeignRows,
): Promise<string | undefined> {
  const ours = claimIndex ? await sourceToken(relational) : await storedSourceToken(relational);
  if (held === ours) return undefined;
  if (held !== null && mode === 'verify')
    throw new IndexBindingError(['owner'], { owner: ours ?? 'none drawn yet' }, { owner: held });
  if (held === null && mode === 'verify' && foreignRows) {
    const { foreign, sampled } = await foreignRows();
    if (foreign > 0)
      throw new IndexBindingError(
        ['rows'],
        { rows: 'written by dualwrite' },
        { rows: `${foreign} of the first ${sampled} not written by dualwrite` },
      );
  }
  if (claimIndex && ours !== null) await claimIndex(ours);
  return held ?? undefined;
}

function describe(index: VectorIndexIdentity): string {
  return `${index.backend} "${index.collection}" at ${index.location}`;
}
