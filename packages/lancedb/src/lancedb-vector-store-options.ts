import { describeValue, type OptionKeys, refuseUnknownKeys, ValidationError } from '@dualwrite/core';

/**
 * Distance metric of the vector search, passed to LanceDB's `VectorQuery.distanceType`.
 *
 * | metric     | `VectorHit.distance` (LanceDB `_distance`) | `VectorHit.score` (higher is closer) |
 * | ---------- | ------------------------------------------- | ------------------------------------ |
 * | `'cosine'` | `1 - cos(a, b)`, in [0, 2]                  | `1 - distance` = cosine similarity, in [-1, 1] |
 * | `'l2'`     | squared Euclidean distance `Σ (aᵢ - bᵢ)²`   | `1 / (1 + distance)`, in (0, 1]      |
 * | `'dot'`    | `1 - a · b`                                 | `1 - distance` = `a · b`, unbounded  |
 *
 * With `'cosine'`, an all-zero vector has no direction: LanceDB computes a NaN distance for it and drops
 * it from results, so an all-zero embedding is stored but never returned by `query`, and an all-zero
 * query vector returns no hits. Use `'l2'` or `'dot'` if zero vectors are meaningful to you.
 */
export type LanceDbDistance = 'cosine' | 'l2' | 'dot';

/** Options of {@link LanceDbVectorStore.open}. */
export interface LanceDbVectorStoreOptions {
  /**
   * Directory of the embedded LanceDB database (a local path; created if missing). One directory can hold
   * several tables. Object-store URIs (`s3://...`) are passed through to LanceDB but are not tested.
   */
  uri: string;
  /** Table name inside the database. Default `'dualwrite'`. Letters, digits, `_`, `-`, `.` only. */
  table?: string;
  /** Vector dimension (number of float32 components), 1..65,536. Must match an existing table. */
  dimension: number;
  /** Distance metric used by `query`. Default `'cosine'`. See {@link LanceDbDistance}. */
  distance?: LanceDbDistance;
  /**
   * Largest number of records one LanceDB write (merge insert or delete) receives; larger calls are split
   * into chunks of this size, each committed as its own table version. Default 5,000 (about 2 MB of
   * 384-d vectors per merge; one merge of 5,000 8-d rows takes ~150 ms on a laptop core).
   */
  maxBatchSize?: number;
  /**
   * Run {@link LanceDbVectorStore.optimize} automatically after this many write calls (`upsert`/`delete`
   * calls that wrote something; one call counts once however many chunks it had). `0` disables it.
   * Default 50.
   *
   * Why: every LanceDB write commits a new table version and at least one new data fragment, and reads
   * slow down with the fragment count. Measured on this adapter (8-d vectors, 5,000 base rows, 2 shared
   * CPU cores, local disk), k=10 query / 3-id `getVersions` latency after N single-record upserts without
   * optimize: N=0 ~3.9 / 1.7 ms, N=20 ~6.8 / 4.5 ms, N=50 ~14 / 21 ms, N=200 ~28 / 30 ms; one `optimize()`
   * over 200 fragments took ~95 ms and brought both back to ~3.7 / 1.5 ms. Over 2,000 single upserts the
   * average write cost 21 ms with 50 and 26.5 ms with 20 (optimizing more often costs more than it saves).
   * LanceDB's `Table.optimize` TSDoc suggests optimizing after ~20 modification operations or 100,000
   * modified rows (https://docs.lancedb.com/maintenance/compaction). The optimize runs in the background
   * right after the write that reached the threshold; writes issued meanwhile wait for it. On a large table
   * the interval grows (see {@link autoOptimizeShare}).
   */
  autoOptimizeEvery?: number;
  /**
   * Largest share of this store's write time that automatic optimizes may take, in (0, 1]. One optimize
   * rewrites the whole table (below a million rows), so its cost grows with the table: after each run the
   * next one comes after `max(autoOptimizeEvery, runMs / (autoOptimizeShare × mean write ms))` write calls
   * (see `AutoOptimizePacer`; measured: 1,000 rows ~55 ms, 50,000 rows ~400–540 ms per run). Default 0.25.
   */
  autoOptimizeShare?: number;
  /**
   * Commits after which the store opens a new connection and table handle and closes the old ones (once the
   * operations using them have finished): commits made through them, or table versions their reads have seen
   * (other processes' commits — a process that only reads a busy table, like a writer-only process's periodic
   * index checks, grew the same way: 165 → 240 MB in 5 minutes of reads on one handle, flat with a new one).
   * Default 500; `0` keeps one connection for the store's life.
   *
   * Why: a LanceDB connection keeps native memory for every commit made through it and never releases it —
   * measured on this adapter (`pnpm --filter @dualwrite/bench commit-memory`, 384-d single-record upserts):
   * RSS 160 → 887 MB over 10,000 commits with one connection, the same growth with 8 MiB session caches (so
   * not the caches) and with a new table handle on the same connection; with a new connection every 500
   * commits, 237 MB after 1,000 and 264 MB after 10,000. lance-format/lance PR #7718 reports ~52 KB per
   * commit on a long-lived handle. A drain worker commits for days. Reopening costs a connect and a manifest
   * read (a few ms) per `refreshTableEvery` commits; no measurable cost per commit.
   */
  refreshTableEvery?: number;
  /**
   * How long {@link LanceDbVectorStore.optimize} keeps old table versions, in ms. Default 600,000
   * (10 minutes). Old versions matter to readers and writers in other processes still working on them (a
   * writer whose commit conflicts re-reads the versions committed since its own: with a retention near 0, a
   * concurrent optimize removed one under it and LanceDB panicked — reported as a retryable error, see
   * `toLanceDbError`); dualwrite never time-travels. Keep it well above the longest write. LanceDB's own
   * default is 7 days (https://docs.lancedb.com/maintenance/cleanup), which keeps every manifest and
   * superseded data file of a busy table for a week — and every retained version slows reads a little
   * (measured: ~0.5–1 ms per 1,000 versions on `count()` / `getVersions`), so at 10 writes/s a 1-hour window
   * would add ~20–35 ms to every read.
   */
  retainVersionsMs?: number;
  /**
   * When `true`, every upsert is version-fenced even when the caller does not ask for it (`ifNewer`): a
   * stored row whose version is higher than the incoming one is kept, and the call reports the skipped
   * ids (`UpsertReport.fenced`). Default `false`: dualwrite's delivery asks for the fence itself on the
   * calls that need it (background deliveries, which may be late) and not on those that must overwrite
   * (sync-2pc compensation restoring an older committed state). A fence never freezes the index: core
   * rewrites a record the index is ahead of at a fresh, higher version.
   */
  rejectStaleVersions?: boolean;
  /**
   * How often (seconds) reads check for commits made by *other* processes or connections. Default `0`:
   * every read checks (a cheap manifest lookup on a local disk), so a worker process's writes are visible
   * to a reconciler in another process immediately. `undefined` in LanceDB means "never check".
   * Writes are always consistent; `identity()` (the index check's read of the table's identity and checkpoint)
   * checks out the latest version first whatever the interval. Other reads follow the interval: with several
   * processes writing one table, a periodic index check in a process with an interval may count rows or look up
   * versions before another process's latest writes and run a needless (harmless) full repair, so keep 0 where
   * checks run (`driftCheck`).
   */
  readConsistencyIntervalSeconds?: number;
  /**
   * LanceDB session index cache, bytes. Default 256 MiB (LanceDB's own default is 6 GB). Source: LanceDB
   * docs, `Session` ("index and metadata caches ... can significantly impact memory use").
   */
  indexCacheBytes?: number;
  /**
   * LanceDB session metadata cache, bytes. Default 64 MiB (LanceDB's own default is 1 GB). Every write
   * creates a table version whose metadata lands here, so the default keeps a long backlog drain from
   * growing the process by hundreds of MB.
   */
  metadataCacheBytes?: number;
  /**
   * Create the directory and the table when they are missing (also a table dropped under a live handle). Default
   * `true`. `false` opens an existing table only — for a process that inspects an index and must never leave
   * one behind at a mistyped path or name: a missing one is a `BackendUnavailableError`.
   */
  create?: boolean;
}

/** {@link LanceDbVectorStoreOptions} with every default applied. */
export interface ResolvedLanceDbVectorStoreOptions {
  uri: string;
  table: string;
  dimension: number;
  distance: LanceDbDistance;
  maxBatchSize: number;
  autoOptimizeEvery: number;
  autoOptimizeShare: number;
  refreshTableEvery: number;
  retainVersionsMs: number;
  rejectStaleVersions: boolean;
  readConsistencyIntervalSeconds: number;
  indexCacheBytes: number;
  metadataCacheBytes: number;
  create: boolean;
}

/** Defaults of {@link LanceDbVectorStoreOptions}. */
export const LANCEDB_DEFAULTS = Object.freeze({
  table: 'dualwrite',
  distance: 'cosine' as LanceDbDistance,
  maxBatchSize: 5_000,
  autoOptimizeEvery: 50,
  autoOptimizeShare: 0.25,
  refreshTableEvery: 500,
  retainVersionsMs: 10 * 60 * 1000,
  rejectStaleVersions: false,
  readConsistencyIntervalSeconds: 0,
  indexCacheBytes: 256 * 1024 * 1024,
  metadataCacheBytes: 64 * 1024 * 1024,
  create: true,
});

const TABLE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** The keys of {@link LanceDbVectorStoreOptions}. */
const OPTION_KEYS: OptionKeys<LanceDbVectorStoreOptions> = {
  uri: true,
  table: true,
  dimension: true,
  distance: true,
  maxBatchSize: true,
  autoOptimizeEvery: true,
  autoOptimizeShare: true,
  refreshTableEvery: true,
  retainVersionsMs: true,
  rejectStaleVersions: true,
  readConsistencyIntervalSeconds: true,
  indexCacheBytes: true,
  metadataCacheBytes: true,
  create: true,
};

/**
 * Applies defaults and validates.
 * @throws {ValidationError} naming the offending option (`component: 'lancedb'`), or an unknown one (a
 *   misspelled option would otherwise be ignored).
 */
export function resolveLanceDbOptions(options: LanceDbVectorStoreOptions): ResolvedLanceDbVectorStoreOptions {
  const component = 'lancedb';
  if (options === null || typeof options !== 'object')
    throw new ValidationError('options', 'must be an object', { component });
  refuseUnknownKeys(options, OPTION_KEYS, 'options', component);
  if (typeof options.uri !== 'string' || options.uri.length === 0)
    throw new ValidationError('options.uri', 'must be a non-empty directory path', { component });
  const table = options.table ?? LANCEDB_DEFAULTS.table;
  if (typeof table !== 'string' || !TABLE_NAME.test(table))
    throw new ValidationError('options.table', `is ${JSON.stringify(table)}`, {
      component,
      limit: '1..128 characters of [A-Za-z0-9_.-]',
    });
  const dimension = options.dimension;
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65_536)
    throw new ValidationError('options.dimension', `is ${describeValue(dimension)}`, {
      component,
      limit: 'integer 1..65536',
    });
  const distance = options.distance ?? LANCEDB_DEFAULTS.distance;
  if (distance !== 'cosine' && distance !== 'l2' && distance !== 'dot')
    throw new ValidationError('options.distance', `is ${JSON.stringify(distance)}`, {
      component,
      limit: "'cosine' | 'l2' | 'dot'",
    });
  const maxBatchSize = options.maxBatchSize ?? LANCEDB_DEFAULTS.maxBatchSize;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > 100_000)
    throw new ValidationError('options.maxBatchSize', `is ${describeValue(maxBatchSize)}`, {
      component,
      limit: 'integer 1..100000',
    });
  const autoOptimizeEvery = options.autoOptimizeEvery ?? LANCEDB_DEFAULTS.autoOptimizeEvery;
  if (!Number.isInteger(autoOptimizeEvery) || autoOptimizeEvery < 0)
    throw new ValidationError('options.autoOptimizeEvery', `is ${describeValue(autoOptimizeEvery)}`, {
      component,
      limit: 'integer >= 0',
    });
  const autoOptimizeShare = options.autoOptimizeShare ?? LANCEDB_DEFAULTS.autoOptimizeShare;
  if (typeof autoOptimizeShare !== 'number' || !(autoOptimizeShare > 0 && autoOptimizeShare <= 1))
    throw new ValidationError('options.autoOptimizeShare', `is ${describeValue(autoOptimizeShare)}`, {
      component,
      limit: '0 < share <= 1',
    });
  const refreshTableEvery = options.refreshTableEvery ?? LANCEDB_DEFAULTS.refreshTableEvery;
  if (!Number.isInteger(refreshTableEvery) || refreshTableEvery < 0)
    throw new ValidationError('options.refreshTableEvery', `is ${describeValue(refreshTableEvery)}`, {
      component,
      limit: 'integer >= 0',
    });
  const retainVersionsMs = options.retainVersionsMs ?? LANCEDB_DEFAULTS.retainVersionsMs;
  if (!Number.isFinite(retainVersionsMs) || retainVersionsMs < 0)
    throw new ValidationError('options.retainVersionsMs', `is ${describeValue(retainVersionsMs)}`, {
      component,
      limit: 'finite number >= 0',
    });
  const readConsistencyIntervalSeconds =
    options.readConsistencyIntervalSeconds ?? LANCEDB_DEFAULTS.readConsistencyIntervalSeconds;
  if (!Number.isFinite(readConsistencyIntervalSeconds) || readConsistencyIntervalSeconds < 0)
    throw new ValidationError(
      'options.readConsistencyIntervalSeconds',
      `is ${describeValue(readConsistencyIntervalSeconds)}`,
      {
        component,
        limit: 'finite number >= 0',
      },
    );
  return {
    uri: options.uri,
    table,
    dimension,
    distance,
    maxBatchSize,
    autoOptimizeEvery,
    autoOptimizeShare,
    refreshTableEvery,
    retainVersionsMs,
    rejectStaleVersions: options.rejectStaleVersions ?? LANCEDB_DEFAULTS.rejectStaleVersions,
    readConsistencyIntervalSeconds,
    indexCacheBytes: cacheSize(
      options.indexCacheBytes,
      LANCEDB_DEFAULTS.indexCacheBytes,
      'options.indexCacheBytes',
    ),
    metadataCacheBytes: cacheSize(
      options.metadataCacheBytes,
      LANCEDB_DEFAULTS.metadataCacheBytes,
      'options.metadataCacheBytes',
    ),
    create: booleanOption(options.create, LANCEDB_DEFAULTS.create, 'options.create'),
  };
}

function cacheSize(value: number | undefined, fallback: number, field: string): number {
  const bytes = value ?? fallback;
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new ValidationError(field, `is ${describeValue(bytes)}`, {
      component: 'lancedb',
      limit: 'integer bytes >= 0',
    });
  return bytes;
}

/** `value` when it is a boolean, `fallback` when absent. @throws {ValidationError} otherwise. */
function booleanOption(value: unknown, fallback: boolean, field: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new ValidationError(field, `is ${describeValue(value)}`, {
      component: 'lancedb',
      limit: 'a boolean',
    });
  return value;
}
