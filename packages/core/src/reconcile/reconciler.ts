import { enqueueRepairs, readOutboxEntry } from '../contracts/relational-operations.js';
import { hasIntentLog, type RelationalStore } from '../contracts/relational-store.js';
import type { VectorStore } from '../contracts/vector-store.js';
import { isForeignVersion } from '../record/version-range.js';
import type { Clock } from '../util/clock.js';
import { EventLoopYield, PAGE_LOOP_TURN_MS } from '../util/event-loop-yield.js';
import { rebaseAboveIndex } from '../write/rebase-above-index.js';
import { differentContent, readIndexed } from './indexed-rows.js';

/** Options of a reconciliation run. */
export interface ReconcileOptions {
  /** `'full'` checks every id; `'sample'` checks a random `sampleRate` share of pages. Default `'full'`. */
  mode?: 'full' | 'sample';
  /** Share of pages checked in `'sample'` mode, (0, 1]. Default 0.1. */
  sampleRate?: number;
  /** Count differences without repairing them. Default `false`. */
  dryRun?: boolean;
  /** Ids per page on both sides; memory is bounded by this, not by collection size. Default 500. */
  pageSize?: number;
  /**
   * Compare each row indexed at its record's current version with the record — text, metadata, vector — where
   * the vector store can read rows back (`VectorStore.getRecords`), and repair the rows that differ. Default
   * `true`; `false` compares ids and versions only (no vectors read: cheaper on a large index).
   */
  content?: boolean;
  /** Random source for sampling. Default `Math.random`. */
  random?: () => number;
  /** Called after every page with the ids checked so far (for progress bars). */
  onProgress?: (progress: { checkedRecords: number; checkedVectors: number }) => void;
}

/** Counts per drift class found (and, unless dry-run, repaired through the outbox). */
export interface ReconcileReport {
  mode: 'full' | 'sample';
  dryRun: boolean;
  /** Source-of-truth rows checked (tombstones included). */
  checkedRecords: number;
  /** Vector ids checked. */
  checkedVectors: number;
  /** Live records absent from the index. */
  missing: number;
  /** Records whose indexed version differs from the current one. */
  stale: number;
  /**
   * Records indexed at their current version whose text, metadata or vector differ from the source of truth
   * (edited behind dualwrite's back, or written by another application sharing the index). Repaired by
   * re-delivering the record. `0` when content was not compared ({@link contentChecked}).
   */
  mismatched: number;
  /** Whether rows' content was compared (the vector store has `getRecords` and `content` was not `false`). */
  contentChecked: boolean;
  /** Vectors whose record is deleted or unknown. */
  orphans: number;
  /**
   * Extra rows of ids the index holds more than once (a backend without unique keys, written
   * concurrently). Repaired by deleting every row of the id and re-delivering its current state.
   */
  duplicates: number;
  /**
   * Differences (missing, stale or orphan) whose id is parked in dead letter: real, but not repaired here —
   * `requeueDeadLetters` (after fixing the cause) delivers them.
   */
  deadLettered: number;
  /** Rows in the index as its `count()` reports them (`'full'` mode), or `null` in `'sample'` mode. */
  indexRows: number | null;
  /** Distinct ids listed from the index (`'full'` mode), or `null` in `'sample'` mode. */
  distinctIds: number | null;
  /** Repairs enqueued (0 in dry-run). */
  repairsEnqueued: number;
  /**
   * Settled tombstones deleted from the source of truth (0 in dry-run, or where the store has no
   * `purgeTombstones`): deleted records the index no longer holds, whose delete was acknowledged, with no outbox
   * entry and no intent — what a crash between sync-2pc's commit and its purge, or an ack while an intent
   * existed, leaves behind until the id is written again.
   */
  tombstonesPurged: number;
  /** Wall time, ms. */
  durationMs: number;
}

/**
 * Compares the vector index (read from the index itself, never from bookkeeping) with the source of
 * truth and classifies every difference as missing, stale, mismatched (the current version with other
 * content), orphan or duplicate. Repairs go through the outbox: the drainer applies each id's *current*
 * state, so reconciling while writes continue cannot undo a newer write; a record the index holds at a higher
 * version than its own (the source went back in time) is first rewritten above the index's version, which the
 * index's version fence lets through ({@link rebaseAboveIndex}). Two passes, both paged: SQL
 * `(id, version)` → the index's rows (missing, stale, tombstone orphans; with {@link ReconcileOptions.content}
 * their text, metadata and vector: mismatched); index ids → SQL (orphans of unknown ids, and ids listed more
 * than once: duplicates, found on every page whatever the sample). In `'full'` mode the index's row count is
 * also checked against the distinct ids it listed, so duplicates are found even where a backend's listing
 * hides them.
 */
export async function reconcile(
  relational: RelationalStore,
  vector: VectorStore,
  clock: Clock,
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  const mode = options.mode ?? 'full';
  const dryRun = options.dryRun ?? false;
  const pageSize = options.pageSize ?? 500;
  const rate = mode === 'sample' ? (options.sampleRate ?? 0.1) : 1;
  const random = options.random ?? Math.random;
  const readRows = options.content !== false ? vector.getRecords?.bind(vector) : undefined;
  const started = clock.now();
  const report: ReconcileReport = {
    mode,
    dryRun,
    checkedRecords: 0,
    checkedVectors: 0,
    missing: 0,
    stale: 0,
    mismatched: 0,
    orphans: 0,
    duplicates: 0,
    contentChecked: readRows !== undefined,
    deadLettered: 0,
    indexRows: null,
    distinctIds: null,
    repairsEnqueued: 0,
    tombstonesPurged: 0,
    durationMs: 0,
  };
  const repair = async (ids: string[]) => {
    if (!dryRun && ids.length > 0)
      report.repairsEnqueued += await enqueueRepairs(relational, ids, clock.now());
  };
  // A record the index holds at a higher version (the source went back in time) is rewritten above it: enqueued at
  // its own version, the index's version fence refused its delivery, whose rebase then started a second full
  // repair. @returns the ids left to the plain repair (a sync-2pc intent is live, or the record moved on).
  const rebase = async (rows: { id: string; version: number; held: number }[]) => {
    if (dryRun) return [];
    const rest: string[] = [];
    for (const row of rows) {
      if ((await rebaseAboveIndex(relational, row.id, row.version, row.held, clock.now())) === 'rebased')
        report.repairsEnqueued++;
      else rest.push(row.id);
    }
    return rest;
  };
  // The store re-checks each row as it deletes it (acknowledged, no outbox entry, no intent): a write of the id
  // since this page was read keeps it. Housekeeping: a failure (a deadlock with a writer) leaves the tombstones
  // to the next reconcile and never fails this one.
  const purgeTombstones = async (ids: string[]) => {
    if (!dryRun && ids.length > 0 && hasIntentLog(relational) && relational.purgeTombstones)
      report.tombstonesPurged += await relational.purgeTombstones(ids).catch(() => 0);
  };
  // An id with a pending outbox entry is already on its way: not drift. One parked in dead letter is drift
  // the operator must resolve (counted in `deadLettered`, not repaired: a repair would replace the entry).
  const notQueued = async (ids: string[]) => {
    const out: string[] = [];
    for (const id of ids) {
      const entry = await readOutboxEntry(relational, id);
      if (!entry) out.push(id);
      else if (entry.state === 'dead') report.deadLettered++;
    }
    return out;
  };

  // Stores that answer without I/O (SQLite, the in-memory index) resolve every page as a microtask: a long run
  // would hold timers and I/O — delivery, lease renewals, a server's requests — until it ends.
  const turns = new EventLoopYield(PAGE_LOOP_TURN_MS);
  let after: string | undefined;
  for (;;) {
    await turns.ifDue();
    const page = await relational.listVersions({ after, limit: pageSize });
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    if (random() < rate) {
      report.checkedRecords += page.length;
      const { versions: indexed, rows } = await readIndexed(
        vector,
        page.map((r) => r.id),
        readRows,
      );
      const drift: string[] = [];
      const ahead: { id: string; version: number; held: number }[] = [];
      const versions = new Map(page.map((r) => [r.id, r]));
      const mismatched = rows ? await differentContent(relational, page, rows) : new Set<string>();
      const candidates = await notQueued(
        page
          .filter((r) =>
            r.deleted ? indexed.has(r.id) : indexed.get(r.id) !== r.version || mismatched.has(r.id),
          )
          .map((r) => r.id),
      );
      for (const row of candidates.map((id) => versions.get(id)!)) {
        const v = indexed.get(row.id);
        if (row.deleted) {
          if (v !== undefined) {
            report.orphans++;
            drift.push(row.id);
          }
        } else if (v === undefined) {
          report.missing++;
          drift.push(row.id);
        } else if (v !== row.version) {
          report.stale++;
          if (v > row.version && !isForeignVersion(v))
            ahead.push({ id: row.id, version: row.version, held: v });
          else drift.push(row.id);
        } else {
          report.mismatched++;
          drift.push(row.id);
        }
      }
      drift.push(...(await rebase(ahead)));
      await repair(drift);
      await purgeTombstones(page.filter((r) => r.deleted && !indexed.has(r.id)).map((r) => r.id));
    }
    options.onProgress?.({ checkedRecords: report.checkedRecords, checkedVectors: report.checkedVectors });
    if (page.length < pageSize) break;
  }

  const indexRowsBefore = mode === 'full' ? await vector.count() : null;
  let distinct = 0;
  let previous: string | undefined;
  const duplicated = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    await turns.ifDue();
    const page = await vector.listIds({ cursor, limit: pageSize });
    for (const item of page.items) {
      if (item.id === previous) {
        report.duplicates++;
        duplicated.add(item.id);
      } else distinct++;
      previous = item.id;
    }
    if (random() < rate && page.items.length > 0) {
      report.checkedVectors += page.items.length;
      const ids = [...new Set(page.items.map((i) => i.id))];
      const rows = await relational.getRecords(ids, { includeDeleted: true });
      // Tombstoned ids were counted in the first pass; only unknown ids are new orphans here.
      const unknown = await notQueued(ids.filter((id) => !rows.has(id)));
      report.orphans += unknown.length;
      await repair(unknown);
    }
    options.onProgress?.({ checkedRecords: report.checkedRecords, checkedVectors: report.checkedVectors });
    if (page.nextCursor === undefined) break;
    cursor = page.nextCursor;
  }
  if (indexRowsBefore !== null) {
    report.indexRows = indexRowsBefore;
    report.distinctIds = distinct;
  }
  if (duplicated.size > 0 && !dryRun) {
    // Every row of the id goes, then its current state is delivered once: the index converges to one row.
    await vector.delete([...duplicated]);
    report.repairsEnqueued += await enqueueRepairs(relational, [...duplicated], clock.now());
  }
  report.durationMs = clock.now() - started;
  return report;
}
