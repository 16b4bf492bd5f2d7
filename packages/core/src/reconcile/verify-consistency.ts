import type { RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import { EventLoopYield, PAGE_LOOP_TURN_MS } from '../util/event-loop-yield.js';
import { differentContent, readIndexed } from './indexed-rows.js';

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
  /**
   * Records indexed at their current version whose text, metadata or vector differ from the source of truth
   * (the row was edited behind dualwrite's back, or another application writes the same index). `0` when
   * the content was not compared ({@link contentChecked}).
   */
  mismatched: number;
  /** Vectors whose record is deleted or unknown. */
  orphans: number;
  /** Extra rows of ids the index holds more than once (`vectors` counts every row). */
  duplicates: number;
  /** Whether the rows' content was compared (the vector store has `getRecords` and `content` was not `false`). */
  contentChecked: boolean;
  /** Up to 20 example ids per class, for error messages. */
  examples: {
    lost: string[];
    stale: string[];
    mismatched: string[];
    orphans: string[];
    duplicates: string[];
  };
}

/** Options of {@link verifyConsistency}. */
export interface VerifyOptions {
  /** Ids read per page on each side; memory is bounded by it. Default 1,000. */
  pageSize?: number;
  /**
   * Compare each indexed row's text, metadata and vector with the record, where the vector store can read
   * them back (`getRecords`). Default `true`; `false` compares ids and versions only (no vectors read).
   */
  content?: boolean;
}

/**
 * Read-only check that the index equals the source of truth exactly: every live record is indexed once, at
 * its current version, with its text, metadata and vector (where the vector store can read rows back:
 * `VectorStore.getRecords`; see {@link ConsistencyReport.contentChecked}), and nothing else is. Pages
 * through both sides, so memory is bounded. Unlike `reconcile`, it counts pending deliveries as
 * differences: call it after `flush`.
 */
export async function verifyConsistency(
  relational: RelationalStore,
  vector: VectorStore,
  options: VerifyOptions = {},
): Promise<ConsistencyReport> {
  const pageSize = options.pageSize ?? 1000;
  const readRows = options.content !== false ? vector.getRecords?.bind(vector) : undefined;
  const report: ConsistencyReport = {
    records: 0,
    vectors: 0,
    lost: 0,
    stale: 0,
    mismatched: 0,
    orphans: 0,
    duplicates: 0,
    contentChecked: readRows !== undefined,
    examples: { lost: [], stale: [], mismatched: [], orphans: [], duplicates: [] },
  };
  const note = (cls: keyof ConsistencyReport['examples'], id: string) => {
    report[cls]++;
    if (report.examples[cls].length < 20) report.examples[cls].push(id);
  };
  const turns = new EventLoopYield(PAGE_LOOP_TURN_MS); // see reconcile: I/O-less stores would hold the loop
  let after: string | undefined;
  for (;;) {
    await turns.ifDue();
    const page = await relational.listVersions({ after, limit: pageSize });
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    const { versions: indexed, rows } = await readIndexed(
      vector,
      page.map((r) => r.id),
      readRows,
    );
    const mismatched = rows ? await differentContent(relational, page, rows) : new Set<string>();
    for (const row of page) {
      const v = indexed.get(row.id);
      if (row.deleted) continue; // an indexed tombstone is counted as an orphan in the second pass
      report.records++;
      if (v === undefined) note('lost', row.id);
      else if (v !== row.version) note('stale', row.id);
      else if (mismatched.has(row.id)) note('mismatched', row.id);
    }
    if (page.length < pageSize) break;
  }
  let cursor: string | undefined;
  let previous: string | undefined;
  for (;;) {
    await turns.ifDue();
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
