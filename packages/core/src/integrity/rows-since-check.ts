/**
 * The index rows delivered since the previous check, compared with the source of truth. Every state the index
 * takes carries a version drawn after the ones before it, so the rows above the highest version an earlier check
 * compared are what the index took since — except a version drawn before that check and committed after it (a
 * transaction open across the check, on a dialect with concurrent writers), which lands below it: so the mark never
 * passes the highest version handed out when the check before began (a transaction open across two whole checks
 * is the one left unseen, as by the look-up of acknowledgements). The source records the mark in its own meta, where a
 * restore of the source brings back an older one: the next check then reads every row the source lost — however
 * old the records they belong to, and whatever the source's sequence says (a process that kept its own high-water
 * mark, a dump that restored the sequence ahead of its records) — and finds them ahead of their records.
 *
 * @packageDocumentation
 */
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore, VersionedId } from '../contracts/vector-store.js';
import { MAX_TRUSTED_VERSION } from '../record/version-range.js';
import { notInFlight } from './settled-records.js';

/** Meta key of the highest index version a check compared with the source (decimal integer). */
export const INDEX_ROWS_CHECKED_KEY = 'index-rows-checked';

/** Rows per `versionsInRange` read. */
const PAGE = 1_000;
/** Most rows one check compares; the next goes on where it stopped. */
const ROWS_PER_CHECK = 5_000;
/** Most `versionsInRange` reads of one check (a full page halves the version window it reads). */
const READS_PER_CHECK = 64;

/**
 * Reads the index rows above the version the previous check reached and compares them with the source's records:
 * a row whose record is missing, or at a lower version, with nothing in flight for it (no outbox entry, no
 * sync-2pc intent), holds a state the source does not have. Records how far it compared when it found none.
 * @param inFlight - the ids of the logged sync-2pc intents (their rows may be ahead until the write commits).
 * @param committedUpTo - the highest version handed out when the previous check of this process began: every
 *   version up to it is committed or given up by now, so the mark can move up to it (`undefined` for the first
 *   check: it compares, and moves nothing).
 * @returns why the index is ahead of the source, or `undefined` (also for a store without `versionsInRange`).
 */
export async function rowsAheadOfSource(
  relational: RelationalStore,
  vector: VectorStore,
  inFlight: () => Promise<ReadonlySet<string>>,
  committedUpTo: number | undefined,
): Promise<string | undefined> {
  if (!vector.versionsInRange) return undefined;
  const raw = await relational.getMeta(INDEX_ROWS_CHECKED_KEY);
  const from = raw !== undefined && Number.isSafeInteger(Number(raw)) ? Number(raw) : 0;
  const { rows, reached } = await rowsAbove(vector, from);
  const candidates = await aheadOf(relational, rows, inFlight);
  // Read again: a write, a delivery or a sync-2pc intent settling between the two reads explains a row.
  const ahead =
    candidates.length === 0
      ? []
      : await aheadOf(relational, await currentVersions(vector, candidates), inFlight);
  if (ahead.length === 0) {
    // helper-50: a mark at `reached` passed a version a transaction open across the check committed after it; a
    // backup taken in between, restored, lost that state unseen.
    const mark = Math.min(reached, committedUpTo ?? from);
    if (mark > from) await relational.setMeta(INDEX_ROWS_CHECKED_KEY, String(mark));
    return undefined;
  }
  const named = ahead.slice(0, 3).map((r) => `${JSON.stringify(r.id)} v${r.version}`);
  return `the index holds ${ahead.length} of the ${rows.length} rows it took since the previous check ahead of the source of truth (${named.join(', ')}${ahead.length > 3 ? ', …' : ''}): the source went back in time (restored from a backup?), or another source writes to this index`;
}

/**
 * The rows with a version above `from`, in version windows read completely one after another (a full page halves
 * the window), up to {@link ROWS_PER_CHECK}; `reached` is the top of the last window read completely.
 */
async function rowsAbove(
  vector: VectorStore,
  from: number,
): Promise<{ rows: VersionedId[]; reached: number }> {
  const rows: VersionedId[] = [];
  let above = from;
  let atMost: number | undefined;
  for (let reads = 0; reads < READS_PER_CHECK && rows.length < ROWS_PER_CHECK; reads++) {
    const page = await vector.versionsInRange!({ above, atMost, limit: PAGE });
    if (page.length < PAGE) {
      rows.push(...page);
      if (atMost === undefined)
        return { rows, reached: page.reduce((max, r) => Math.max(max, r.version), above) };
      above = atMost;
      atMost = undefined;
    } else if (atMost !== undefined && atMost - above <= 1) {
      rows.push(...page); // one version's rows: one id's, however many times it is stored
      above = atMost;
      atMost = undefined;
    } else {
      // (Rows of foreign versions, beyond any a source hands out, come with the last, unbounded read.)
      const top =
        atMost ??
        Math.min(
          MAX_TRUSTED_VERSION,
          page.reduce((max, r) => Math.max(max, r.version), above + 1),
        );
      atMost = Math.max(above + 1, above + Math.floor((top - above) / 2));
    }
  }
  return { rows, reached: above };
}

/** The rows of `rows` whose record is missing or below the row's version, with nothing in flight for it. */
async function aheadOf(
  relational: RelationalStore,
  rows: readonly VersionedId[],
  inFlight: () => Promise<ReadonlySet<string>>,
): Promise<VersionedId[]> {
  if (rows.length === 0) return [];
  const records = await relational.getRecords(
    rows.map((r) => r.id),
    { includeDeleted: true },
  );
  const behind = rows.filter((r) => (records.get(r.id)?.version ?? -1) < r.version);
  if (behind.length === 0) return [];
  const settled = new Set(
    await notInFlight(
      relational,
      behind.map((r) => r.id),
      inFlight,
    ),
  );
  return behind.filter((r) => settled.has(r.id));
}

/** `rows` with the versions the index holds now (a row deleted since is left out). */
async function currentVersions(vector: VectorStore, rows: readonly VersionedId[]): Promise<VersionedId[]> {
  const held = await vector.getVersions(rows.map((r) => r.id));
  return rows.flatMap((r) => {
    const version = held.get(r.id);
    return version === undefined ? [] : [{ id: r.id, version }];
  });
}
