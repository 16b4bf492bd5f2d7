/**
 * Every row, in time. The other checks see what a restore, a lost write or a foreign writer leaves behind; none of
 * them reads what a row holds, so an index row another tool edited in place (other text, metadata or vector at the
 * same version), or removed, or one added for an id the source does not know, stayed until someone ran a reconcile.
 * Each check compares the next page of the source's records with their index rows (versions, and the rows' content
 * where the store reads rows back), and the next page of the index's ids with the source: the whole index within
 * `records / pageSize` checks. Cursors live in the process; a restart begins again at the first id.
 *
 * @packageDocumentation
 */
import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import { differentContent, readIndexed } from '../reconcile/indexed-rows.js';
import type { RecordVersion } from '../record/types.js';
import { notInFlight } from './settled-records.js';

/** Records (and index ids) one check compares by default. */
export const DEFAULT_SWEEP_PAGE = 200;

type Difference = 'missing' | 'stale' | 'mismatched' | 'orphan';

/** Walks the source's records and the index's ids a page per check, wrapping around at the end. */
export class RollingSweep {
  #recordsAfter: string | undefined;
  #indexCursor: string | undefined;

  constructor(private readonly pageSize: number) {}

  /**
   * Compares the next page of each side. A difference is read twice (a write or a delivery between the reads
   * explains it), and an id with an outbox entry (pending or dead) or a sync-2pc intent is left out.
   * @param inFlight - the ids of the logged sync-2pc intents.
   * @returns why the index differs from the source, or `undefined`.
   */
  async next(
    relational: RelationalStore,
    vector: VectorStore,
    inFlight: () => Promise<ReadonlySet<string>>,
  ): Promise<string | undefined> {
    if (this.pageSize === 0) return undefined;
    const page = await relational.listVersions({ after: this.#recordsAfter, limit: this.pageSize });
    this.#recordsAfter = page.length < this.pageSize ? undefined : page[page.length - 1]!.id;
    const listed = await vector.listIds({ cursor: this.#indexCursor, limit: this.pageSize });
    this.#indexCursor = listed.nextCursor;

    const found = new Map([
      ...(await differences(relational, vector, page)),
      ...(await unknownIds(
        relational,
        vector,
        listed.items.map((i) => i.id),
      )),
    ]);
    if (found.size === 0) return undefined;
    // Again, settled ids only: nothing in flight before and after, the record unchanged around the index's read
    // (a write, or a delivery of a write, in between explains a difference), differing the same way.
    const settled = await notInFlight(relational, [...found.keys()], inFlight);
    const before = await relational.getRecords(settled, { includeDeleted: true });
    const again = new Map([
      ...(await differences(
        relational,
        vector,
        [...before.values()].map((r) => ({ id: r.id, version: r.version, deleted: r.deleted })),
      )),
      ...(await unknownIds(
        relational,
        vector,
        settled.filter((id) => !before.has(id)),
      )),
    ]);
    const after = await relational.getRecords([...again.keys()], { includeDeleted: true });
    const unchanged = [...again.keys()].filter(
      (id) => found.get(id) === again.get(id) && after.get(id)?.version === before.get(id)?.version,
    );
    const still = new Set(await notInFlight(relational, unchanged, inFlight));
    const confirmed = [...again].filter(([id]) => still.has(id));
    if (confirmed.length === 0) return undefined;
    const count = (kind: Difference) => confirmed.filter(([, k]) => k === kind).length;
    const named = confirmed.slice(0, 3).map(([id, kind]) => `${JSON.stringify(id)} ${kind}`);
    return `a sweep of the index found ${confirmed.length} row${confirmed.length === 1 ? '' : 's'} differing from the source of truth (${count('missing')} missing, ${count('stale')} at another version, ${count('mismatched')} with other content, ${count('orphan')} of ids the source does not hold: ${named.join(', ')}${confirmed.length > 3 ? ', …' : ''}): rows changed behind dualwrite's back`;
  }
}

/** How the index differs from each record of `page` (a record with an outbox entry is checked by the caller). */
async function differences(
  relational: RelationalStore,
  vector: VectorStore,
  page: readonly RecordVersion[],
): Promise<Map<string, Difference>> {
  const out = new Map<string, Difference>();
  if (page.length === 0) return out;
  const { versions, rows } = await readIndexed(
    vector,
    page.map((r) => r.id),
    vector.getRecords?.bind(vector),
  );
  const mismatched = rows ? await differentContent(relational, page, rows) : new Set<string>();
  for (const record of page) {
    const held = versions.get(record.id);
    if (record.deleted) {
      if (held !== undefined) out.set(record.id, 'orphan');
    } else if (held === undefined) out.set(record.id, 'missing');
    else if (held !== record.version) out.set(record.id, 'stale');
    else if (mismatched.has(record.id)) out.set(record.id, 'mismatched');
  }
  return out;
}

/** The ids of `ids` the source holds no record of (not even a tombstone) and the index holds a row of. */
async function unknownIds(
  relational: RelationalStore,
  vector: VectorStore,
  ids: readonly string[],
): Promise<Map<string, Difference>> {
  if (ids.length === 0) return new Map();
  const records = await relational.getRecords(ids, { includeDeleted: true });
  const unknown = ids.filter((id) => !records.has(id));
  const held = unknown.length === 0 ? new Map<string, number>() : await vector.getVersions(unknown);
  return new Map(unknown.filter((id) => held.has(id)).map((id) => [id, 'orphan' as const]));
}
