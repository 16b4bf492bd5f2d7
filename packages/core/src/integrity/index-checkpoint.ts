/**
 * The index checkpoint: a counter the source of truth stamps on the index itself (its versioned metadata, so
 * an older copy of the index brings back an older counter) and records in SQL once stamped. An index holding a
 * lower checkpoint than the source recorded went back in time — restored from a backup or a snapshot, rolled
 * back with the backend's own time travel — however many writes landed on it since: unlike the row counts and
 * the most recent acknowledged writes, later writes cannot hide it.
 *
 * @packageDocumentation
 */
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';

/** Meta key of the highest checkpoint this source stamped on its index (decimal integer). */
export const INDEX_CHECKPOINT_KEY = 'index-checkpoint';

/** The index's checkpoint and the one the source recorded (0 for none). */
async function readCheckpoints(
  relational: RelationalStore,
  vector: VectorStore,
): Promise<{ held: number; recorded: number }> {
  const held = (await vector.identity!()).checkpoint ?? 0;
  const raw = await relational.getMeta(INDEX_CHECKPOINT_KEY);
  const recorded = raw === undefined ? 0 : Number(raw);
  return { held, recorded: Number.isSafeInteger(recorded) ? recorded : 0 };
}

/** Stamps of one checkpoint while another process's lower stamp lands after it. */
const STAMP_ATTEMPTS = 5;

/** Pause before a stamp is read back, ms (jittered ±50 %): about how long a concurrent stamp takes to land. */
const STAMP_SETTLE_MS = 20;

/**
 * Stamps `checkpoint` on the index first, then records it: the index never holds less than the source says.
 * Neither backend has a compare-and-set for metadata, so another process's stamp of a lower value, read before
 * this one landed, can land after it: the stamp is read back after a short pause and repeated while lower (at
 * most {@link STAMP_ATTEMPTS} times; what is left is a needless full repair, never a miss).
 */
async function stamp(relational: RelationalStore, vector: VectorStore, checkpoint: number): Promise<void> {
  for (let attempt = 1; attempt <= STAMP_ATTEMPTS; attempt++) {
    await vector.stampCheckpoint!(checkpoint);
    await new Promise((r) => setTimeout(r, STAMP_SETTLE_MS * (0.5 + Math.random())));
    if (((await vector.identity!()).checkpoint ?? 0) >= checkpoint) break;
  }
  await relational.setMeta(INDEX_CHECKPOINT_KEY, String(checkpoint));
}

/** Whether `vector` can hold a checkpoint (`identity` reports it, `stampCheckpoint` raises it). */
export function holdsCheckpoint(vector: VectorStore): boolean {
  return typeof vector.stampCheckpoint === 'function' && typeof vector.identity === 'function';
}

/**
 * Compares the index's checkpoint with the one the source recorded; when the index holds at least that, stamps
 * the next one (on the index, then in SQL), which the next check expects. Several processes may pass at once:
 * the index's checkpoint only rises (`stampCheckpoint` never lowers it), and the source records only values
 * stamped on it, so without a rollback the index never holds less than the source recorded.
 * @returns why the index went back in time, or `undefined` (also for a store without checkpoints).
 */
export async function passCheckpoint(
  relational: RelationalStore,
  vector: VectorStore,
): Promise<string | undefined> {
  if (!holdsCheckpoint(vector)) return undefined;
  const { held, recorded } = await readCheckpoints(relational, vector);
  if (held < recorded)
    return `the index holds checkpoint ${held}, below the ${recorded} this source stamped on it: it went back in time (an older copy restored, or rolled back)`;
  await stamp(relational, vector, Math.max(held, recorded) + 1);
  return undefined;
}

/**
 * Stamps a checkpoint above both the index's and the source's: a repair calls it before it reads the index, so
 * checks after it expect the repaired index, not the one before the rollback.
 */
export async function restampCheckpoint(relational: RelationalStore, vector: VectorStore): Promise<void> {
  if (!holdsCheckpoint(vector)) return;
  const { held, recorded } = await readCheckpoints(relational, vector);
  await stamp(relational, vector, Math.max(held, recorded) + 1);
}
