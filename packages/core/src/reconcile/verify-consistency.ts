import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';

/** Result of {@link verifyConsistency}. */
export interface ConsistencyReport {
  /** Live records in the source of truth. */
  records: number;
  /** Vectors in the index. */
  vectors: number;
  /** Live records absent from the index. */
  lost: number;
  /** Records whose indexed version is not the current one. */
  stale: number;
  /** Vectors whose record is deleted or unknown. */
  orphans: number;
  /** Extra rows of ids the index holds more than once (`vectors` counts every row). */
  duplicates: number;
  /** Up to 20 example ids per class, for error messages. */
  examples: { lost: string[]; stale: string[]; orphans: string[]; duplicates: string[] };
}

/**
 * Read-only check that the index equals the source of truth exactly: every live record is indexed at its
 * current version, once, and nothing else is. Pages through both sides (`pageSize` ids at a time), so memory is
 * bounded. Unlike `reconcile`, it counts pending deliveries as differences: call it after `flush`.
 */
export async function verifyConsistency(
  relational: RelationalStore,
  vector: VectorStore,
  pageSize = 1000,
): Promise<ConsistencyReport> {
  const report: ConsistencyReport = {
    records: 0,
    vectors: 0,
    lost: 0,
    stale: 0,
    orphans: 0,
    duplicates: 0,
    examples: { lost: [], stale: [], orphans: [], duplicates: [] },
  };
  const note = (cls: 'lost' | 'stale' | 'orphans' | 'duplicates', id: string) => {
    report[cls]++;
    if (report.examples[cls].length < 20) report.examples[cls].push(id);
  };
  let after: string | undefined;
  for (;;) {
    const page = await relational.listVersions({ after, limit: pageSize });
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    const indexed = await vector.getVersions(page.map((r) => r.id));
    for (const row of page) {
      const v = indexed.get(row.id);
      if (row.deleted) continue; // an indexed tombstone is counted as an orphan in the second pass
      report.records++;
      if (v === undefined) note('lost', row.id);
      else if (v !== row.version) note('stale', row.id);
    }
    if (page.length < pageSize) break;
  }
  let cursor: string | undefined;
  let previous: string | undefined;
  for (;;) {
    const page = await vector.listIds({ cursor, limit: pageSize });
    report.vectors += page.items.length;
    for (const item of page.items) {
      if (item.id === previous) note('duplicates', item.id);
      previous = item.id;
    }
    if (page.items.length > 0) {
      const rows = await relational.getRecords(page.items.map((i) => i.id));
      for (const item of page.items) if (!rows.has(item.id)) note('orphans', item.id);
    }
    if (page.nextCursor === undefined) break;
    cursor = page.nextCursor;
  }
  return report;
}
