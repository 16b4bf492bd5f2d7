import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import { contentDifference } from '../record/record-equality.js';
import type { RecordVersion, VectorRecord } from '../record/types.js';

/** What the index holds for a page of ids: versions, and the rows themselves when content is compared. */
export interface IndexedPage {
  versions: Map<string, number>;
  /** The rows (`VectorStore.getRecords`), when content is compared. */
  rows?: Map<string, VectorRecord>;
}

/**
 * Reads the index's side of a page of `ids`: the rows through `readRows` (the store's `getRecords`, when
 * content is compared), otherwise only their versions (`getVersions`).
 */
export async function readIndexed(
  vector: VectorStore,
  ids: string[],
  readRows: VectorStore['getRecords'],
): Promise<IndexedPage> {
  if (!readRows) return { versions: await vector.getVersions(ids) };
  const rows = await readRows(ids);
  return { versions: new Map([...rows].map(([id, row]) => [id, row.version])), rows };
}

/**
 * Ids of `page`'s live records whose row in `rows` (the index's) is at the record's current version but holds
 * other text, metadata or another vector. Records changed since `page` was listed are skipped (their new
 * version is on its way).
 */
export async function differentContent(
  relational: RelationalStore,
  page: readonly RecordVersion[],
  rows: ReadonlyMap<string, VectorRecord>,
): Promise<Set<string>> {
  const current = page.filter((r) => !r.deleted && rows.get(r.id)?.version === r.version).map((r) => r.id);
  const out = new Set<string>();
  if (current.length === 0) return out;
  const records = await relational.getRecords(current);
  for (const id of current) {
    const [record, row] = [records.get(id), rows.get(id)!];
    if (record?.version === row.version && contentDifference(record, row).length > 0) out.add(id);
  }
  return out;
}
