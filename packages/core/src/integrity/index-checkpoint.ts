/**
 * The index checkpoint: a counter the source of truth stamps on the index itself (its versioned metadata, so
 * an older copy of the index brings back an older counter) and records in SQL once stamped. It is read both ways:
 *
 * - An index holding a **lower** checkpoint than the source recorded went back in time — restored from a backup
 *   or a snapshot, rolled back with the backend's own time travel — however many writes landed on it since:
 *   unlike the row counts and the most recent acknowledged writes, later writes cannot hide it.
 * - An index holding a **higher** checkpoint than the source ever meant to stamp means the source went back in
 *   time — its database restored from a backup taken before that stamp, so the index holds states the source
 *   lost, however old the records they belong to, and whatever the source's sequence says (a process that kept
 *   its own high-water mark, or a dump that restored the sequence ahead of its records) — or a copy of the source
 *   stamps the same index. The source writes the value it is about to stamp (the intent) before stamping it, so
 *   a crash between the two leaves the index at most at the intent, never above it.
 *
 * @packageDocumentation
 */
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';

/** Meta key of the highest checkpoint this source stamped on its index (decimal integer). */
export const INDEX_CHECKPOINT_KEY = 'index-checkpoint';

/**
 * Meta key of the checkpoint this source is about to stamp (decimal integer), written before the stamp: the
 * index never holds more than it, unless the source lost it (restored) or another source stamps the index.
 */
export const INDEX_CHECKPOINT_INTENT_KEY = 'index-checkpoint-intent';

/**
 * Pause before a finding is read again, ms. Another process's check can lower the intent for the moment between
 * its write and its own stamp (both processes read the same values, the slower one wrote last), which a second
 * reading after this long no longer sees.
 */
const CONFIRM_AFTER_MS = 200;

/** What the index holds and what the source recorded and meant to stamp (0 for none; the intent `undefined`). */
interface Checkpoints {
  held: number;
  recorded: number;
  /** `undefined` on a source a release without intents last stamped from. */
  intended: number | undefined;
}

/** Reads the index first: an intent written before a stamp this reading saw is then read too. */
async function readCheckpoints(relational: RelationalStore, vector: VectorStore): Promise<Checkpoints> {
  const held = (await vector.identity!()).checkpoint ?? 0;
  const [recorded, intended] = await Promise.all([
    readCounter(relational, INDEX_CHECKPOINT_KEY),
    readCounter(relational, INDEX_CHECKPOINT_INTENT_KEY),
  ]);
  return { held, recorded: recorded ?? 0, intended };
}

async function readCounter(relational: RelationalStore, key: string): Promise<number | undefined> {
  const raw = await relational.getMeta(key);
  const value = raw === undefined ? Number.NaN : Number(raw);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Why `c` shows that the index or the source went back in time, or `undefined`. */
function wentBack(c: Checkpoints): string | undefined {
  if (c.held < c.recorded)
    return `the index holds checkpoint ${c.held}, below the ${c.recorded} this source stamped on it: it went back in time (an older copy restored, or rolled back)`;
  // Without an intent (stamped by an older release), a crash between stamp and record leaves the index one above.
  const ceiling = c.intended === undefined ? c.recorded + 1 : Math.max(c.recorded, c.intended);
  if (c.held > ceiling)
    return `the index holds checkpoint ${c.held}, above the ${ceiling} this source stamped or meant to: the source of truth went back in time (its database restored from a backup taken before that stamp, so the index holds states it lost), or a copy of it stamps this index`;
  return undefined;
}

/** Stamps of one checkpoint while another process's lower stamp lands after it. */
const STAMP_ATTEMPTS = 5;

/** Pause before a stamp is read back, ms (jittered ±50 %): about how long a concurrent stamp takes to land. */
const STAMP_SETTLE_MS = 20;

/**
 * Records the intent, stamps `checkpoint` on the index, then records it: the index never holds less than the
 * source recorded, nor more than it meant to stamp.
 * Neither backend has a compare-and-set for metadata, so another process's stamp of a lower value, read before
 * this one landed, can land after it: the stamp is read back after a short pause and repeated while lower (at
 * most {@link STAMP_ATTEMPTS} times; what is left is a needless full repair, never a miss).
 */
async function stamp(relational: RelationalStore, vector: VectorStore, checkpoint: number): Promise<void> {
  await raiseCounter(relational, INDEX_CHECKPOINT_INTENT_KEY, checkpoint);
  for (let attempt = 1; attempt <= STAMP_ATTEMPTS; attempt++) {
    await vector.stampCheckpoint!(checkpoint);
    await new Promise((r) => setTimeout(r, STAMP_SETTLE_MS * (0.5 + Math.random())));
    if (((await vector.identity!()).checkpoint ?? 0) >= checkpoint) break;
  }
  await raiseCounter(relational, INDEX_CHECKPOINT_KEY, checkpoint);
}

/**
 * Records `value` under `key` unless a higher one is recorded (read, then written: another process's write
 * between the two can still lower it, for that moment). A stamp of a lower value whose record lands after a
 * higher one's would otherwise lower what the source recorded: two processes starting at once on two copies of
 * the index stamped and recorded alike, and neither copy read as behind (a break-it round).
 */
async function raiseCounter(relational: RelationalStore, key: string, value: number): Promise<void> {
  const current = await readCounter(relational, key);
  if (current === undefined || current < value) await relational.setMeta(key, String(value));
}

/** Whether `vector` can hold a checkpoint (`identity` reports it, `stampCheckpoint` raises it). */
export function holdsCheckpoint(vector: VectorStore): boolean {
  return typeof vector.stampCheckpoint === 'function' && typeof vector.identity === 'function';
}

/**
 * Compares the index's checkpoint with the ones the source recorded and meant to stamp; when the index holds at
 * least the first and at most the second, stamps the next one (intent, index, record), which the next check
 * expects. A finding is read a second time after {@link CONFIRM_AFTER_MS} before it is reported. Several
 * processes may pass at once: the index's checkpoint only rises (`stampCheckpoint` never lowers it), the source
 * records only values stamped on it, and writes its intent before stamping, so without a rollback of either
 * side the index holds neither less than the source recorded nor more than it meant to stamp. What concurrent
 * processes can still cause is a needless full repair (a process that died between its stamp and its record
 * while another lowered the intent), never a miss.
 * @param options.stamp - `false`: compare only (a process that writes nothing: `dualwrite status`, `verify`).
 *   Before, those stamped too: one run on a copy of the index made the bound index look rolled back.
 * @returns why the index or the source went back in time, or `undefined` (also for a store without checkpoints).
 */
export async function passCheckpoint(
  relational: RelationalStore,
  vector: VectorStore,
  options: { stamp?: boolean } = {},
): Promise<string | undefined> {
  if (!holdsCheckpoint(vector)) return undefined;
  let checkpoints = await readCheckpoints(relational, vector);
  if (wentBack(checkpoints) !== undefined) {
    await new Promise((r) => setTimeout(r, CONFIRM_AFTER_MS));
    checkpoints = await readCheckpoints(relational, vector);
    const reason = wentBack(checkpoints);
    if (reason !== undefined) return reason;
  }
  if (options.stamp !== false) await stamp(relational, vector, nextCheckpoint(checkpoints));
  return undefined;
}

/**
 * The checkpoint the index holds and the one the source recorded, when the index holds less — read a second time
 * after {@link CONFIRM_AFTER_MS} before it is reported (a stamp in progress elsewhere records after it lands, but
 * this reading may see its record and miss its stamp). What tells a copy of the bound index, reached at another
 * path, from the bound index itself: every stamp the source recorded landed on the bound index, not on a copy.
 * @returns `undefined` when the index holds at least the recorded checkpoint (also for a store without
 *   checkpoints).
 */
export async function checkpointBehind(
  relational: RelationalStore,
  vector: VectorStore,
): Promise<{ held: number; recorded: number } | undefined> {
  if (!holdsCheckpoint(vector)) return undefined;
  for (let reading = 1; ; reading++) {
    // The record first: a stamp lands before it is recorded, so the same index read after holds at least any
    // value this read saw — read the other way round, a stamp and record landing between the two reads made the
    // index look behind (a break-it round: three processes checking every 200 ms, held for half a second).
    const recorded = (await readCounter(relational, INDEX_CHECKPOINT_KEY)) ?? 0;
    const held = (await vector.identity!()).checkpoint ?? 0;
    if (held >= recorded) return undefined;
    if (reading === 2) return { held, recorded };
    await new Promise((r) => setTimeout(r, CONFIRM_AFTER_MS));
  }
}

const nextCheckpoint = (c: Checkpoints): number => Math.max(c.held, c.recorded, c.intended ?? 0) + 1;

/**
 * Stamps a checkpoint above both the index's and the source's: a repair calls it before it reads the index, so
 * checks after it expect the repaired index, not the one before the rollback.
 */
export async function restampCheckpoint(relational: RelationalStore, vector: VectorStore): Promise<void> {
  if (!holdsCheckpoint(vector)) return;
  // A random step (1..64): a periodic check elsewhere stamping the next value at the same moment — on a copy
  // of this index — stamps another one, so one of the two copies reads as behind.
  const step = Math.floor(Math.random() * RESTAMP_SPREAD);
  await stamp(relational, vector, nextCheckpoint(await readCheckpoints(relational, vector)) + step);
}

/** Values a restamp spreads over above the next checkpoint (see {@link restampCheckpoint}). */
const RESTAMP_SPREAD = 64;
