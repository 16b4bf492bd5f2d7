import { randomUUID } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  BackendUnavailableError,
  ClosedError,
  checkVersionRange,
  DEFAULT_LIMITS,
  type DeleteOptions,
  DimensionMismatchError,
  type DualwriteError,
  describeValue,
  lacksDirection,
  type Metadata,
  type MetadataFilter,
  PermanentBackendError,
  RESERVED_METADATA_PREFIX,
  type RecordLimits,
  type UpsertOptions,
  type UpsertReport,
  ValidationError,
  type VectorHit,
  type VectorIdPage,
  type VectorIndexIdentity,
  type VectorQueryOptions,
  type VectorRecord,
  type VectorStore,
  type VersionedId,
  type VersionRange,
  validateId,
  validateMetadata,
  validateText,
} from '@dualwrite/core';
import { type Connection, connect, type OptimizeStats, Session, type Table } from '@lancedb/lancedb';
import { rowsOfTable } from './arrow-rows.js';
import { AutoOptimizePacer, type AutoOptimizeState } from './auto-optimize-pacer.js';
import { LANCEDB_COMPONENT, toLanceDbError } from './lancedb-errors.js';
import {
  CHECKPOINT_METADATA_KEY,
  COLUMNS,
  fencedIdPredicate,
  INDEX_ID_METADATA_KEY,
  idAfterPredicate,
  idInPredicate,
  inspectSchema,
  type LanceDbRow,
  lanceDbSchema,
  metadataPrefilter,
  OWNER_METADATA_KEY,
  PRIMARY_KEY_METADATA_PREFIX,
  toLanceRows,
  toLanceTable,
} from './lancedb-schema.js';
import {
  type LanceDbDistance,
  type LanceDbVectorStoreOptions,
  type ResolvedLanceDbVectorStoreOptions,
  resolveLanceDbOptions,
} from './lancedb-vector-store-options.js';
import { TableRewindWatch } from './table-rewind-watch.js';

const component = LANCEDB_COMPONENT;

/**
 * The adapter does not impose dualwrite's input size limits (the core already enforced the configured
 * ones, which may be larger than the defaults); it rejects only what LanceDB cannot store faithfully:
 * non-strings, empty ids, NUL in ids, lone surrogates (they would be silently replaced by U+FFFD when
 * encoded to UTF-8), non-finite or non-scalar metadata values, reserved `_dw` keys.
 */
const ADAPTER_LIMITS: RecordLimits = Object.freeze({
  ...DEFAULT_LIMITS,
  maxIdLength: Number.MAX_SAFE_INTEGER,
  maxTextBytes: Number.MAX_SAFE_INTEGER,
  maxMetadataKeys: Number.MAX_SAFE_INTEGER,
  maxMetadataKeyLength: Number.MAX_SAFE_INTEGER,
  maxMetadataBytes: Number.MAX_SAFE_INTEGER,
});

/** Ids per `IN (...)` predicate of `delete` / `getVersions` (keeps SQL strings small; ≤ maxBatchSize). */
const PREDICATE_CHUNK = 1_000;

/** Over-fetch factor when exact metadata re-checking dropped prefilter false positives. */
const OVERFETCH_FACTOR = 4;

/** Statistics of one {@link LanceDbVectorStore.optimize} run, as reported by LanceDB. */
export type LanceDbOptimizeStats = OptimizeStats;

/**
 * {@link VectorStore} on embedded LanceDB (`@lancedb/lancedb`), one table in a local directory.
 *
 * Create it with {@link LanceDbVectorStore.open} (connects, creates the table on first use, checks the
 * dimension of an existing one). Layout: see `lancedb-schema.ts` — columns `id`, `vector`
 * (`FixedSizeList<Float32>[dimension]`), `text`, `metadata` (JSON string), `version` (`Int64`).
 *
 * Behaviour:
 * - **One row per id.** The table declares `id` its unenforced primary key (set on creation, and on the
 *   first open of an older table), which makes LanceDB detect two concurrent merge inserts of the same
 *   *new* id — from two handles or two processes — as a commit conflict and retry the loser as an update.
 *   Without it both commit and the id is stored twice (lance-format/lance#4585, lancedb/lancedb#3377 and
 *   #2463: conflict detection only sees rows that existed; measured here: 10 of 10 races duplicated
 *   without the key, 0 of 10 with it, 3 processes × 60 merges: 22 rows for 20 ids without, 20 with).
 * - **Version fence** (`versionFence`): with `ifNewer`, the merge updates a matched row only
 *   `WHERE target.version <= source.version`, atomically in the commit; ids it skipped are reported.
 * - **Identity**: a UUID on the `id` column's metadata ({@link INDEX_ID_METADATA_KEY}) names the table
 *   instance, so a table dropped and recreated under the same name is told apart.
 * - **upsert** validates every record first (nothing is written if one is bad), collapses duplicate ids
 *   (last wins — LanceDB inserts *both* rows when two source rows share a new id and rejects the merge as
 *   "ambiguous" when they share an existing id), then runs one merge insert
 *   (`mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll()`) per chunk of `maxBatchSize`.
 *   Each chunk is its own atomic commit: if a later chunk fails, earlier ones stay written (harmless,
 *   upsert is idempotent and the caller retries). See
 *   https://lancedb.github.io/lancedb/js/classes/MergeInsertBuilder and
 *   https://lancedb.github.io/lancedb/guides/tables/merge_insert (upsert; the join scans the whole `id`
 *   column, so a merge costs O(table size): ~200 ms per 5,000-row chunk into 100,000 8-d rows, measured).
 * - **delete / getVersions** use `id IN ('…')` predicates with SQL string literals (single quotes doubled;
 *   backslashes are literal in LanceDB SQL), in chunks of 1,000 ids (a NUL as `chr(0)`). An id with a lone
 *   surrogate is skipped: it cannot be stored, and would be encoded as U+FFFD, matching a different id.
 * - **query** is an exact (flat, no ANN index) k-NN search with the configured {@link LanceDbDistance}.
 *   A metadata filter is pushed down as a coarse SQL prefilter (`strpos(metadata, '"key":value') > 0`,
 *   never drops a match) and then re-checked exactly on the parsed JSON; if the re-check dropped
 *   prefilter false positives and fewer than `k` remain, the search repeats with 4× the limit until `k`
 *   matches are found or the table is exhausted. So `k` hits come back whenever at least `k` records match.
 * - **listIds** orders by `id` (UTF-8 byte order = Unicode code point order, the same order as
 *   `RelationalStore.listVersions`) and continues after the last id of the previous page (keyset paging:
 *   the cursor is the base64url-encoded last id). Each page is a filtered scan with a top-`limit` sort, so
 *   memory is bounded by `limit`.
 * - Writes of one store instance are serialised (one LanceDB commit at a time); reads run concurrently.
 * - {@link optimize} runs in the background every {@link LanceDbVectorStoreOptions.autoOptimizeEvery} write
 *   calls, or less often on a large table, so that it takes at most
 *   {@link LanceDbVectorStoreOptions.autoOptimizeShare} of the write time (see `AutoOptimizePacer`: one
 *   optimize rewrites the whole table).
 * - No scalar index is created on `id`: LanceDB's index-assisted merge-insert path has had bugs
 *   (lance-format/lance#6877 spurious "ambiguous merge" errors after rewrites, #7596 silent zero updates)
 *   and at dualwrite's sizes a scan is fast enough.
 *
 * Errors (all with `component: 'lancedb'`): {@link ValidationError} / {@link DimensionMismatchError} for bad
 * input (nothing sent), {@link BackendUnavailableError} when the directory is missing, unreadable,
 * read-only or full (best effort, from LanceDB's messages), {@link TransientBackendError} for commit
 * conflicts and timeouts, {@link PermanentBackendError} otherwise, {@link ClosedError} after {@link close}.
 */
export class LanceDbVectorStore implements VectorStore {
  /** Backend name used in errors and stats: `'lancedb'`. */
  readonly name = 'lancedb';
  /** Vector dimension (float32 components per vector). */
  readonly dimension: number;
  /** Largest number of records per LanceDB merge insert / delete (default 5,000). */
  readonly maxBatchSize: number;
  /** The options in effect, defaults applied. */
  readonly options: Readonly<ResolvedLanceDbVectorStoreOptions>;
  /** `true`: {@link upsert} honours `ifNewer` atomically (a conditional merge on `version`). */
  readonly versionFence = true;
  /**
   * 1: every write is a commit of the table, and concurrent commits conflict (LanceDB retries the loser), so
   * the drainer writes one call at a time per table (more loops only add conflicts).
   */
  readonly maxConcurrentWrites = 1;

  #db: Connection;
  #table: Table;
  /** The table has exactly the adapter's layout: writes send an Arrow table built here (`toLanceTable`). */
  #exactLayout: boolean;
  /** Commits made through the current connection and table handle (see `refreshTableEvery`). */
  #commitsOnHandle = 0;
  /**
   * The table version the current handle first read, and the latest one it has read since (other processes'
   * commits included): a handle keeps memory for every version it has seen, not only its own commits (see
   * {@link #noteRead}). `undefined` until the handle's first read.
   */
  #versionsOnHandle: { first: number; latest: number } | undefined;
  /** A handle refresh is scheduled or running (reads do not schedule another). */
  #refreshing = false;
  /** Connections and table handles this store opened again after `refreshTableEvery` (see {@link handleRefreshes}). */
  #handleRefreshes = 0;
  readonly #onAutoOptimizeError: ((error: DualwriteError) => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #inflight = new Set<Promise<unknown>>();
  #writeChain: Promise<unknown> = Promise.resolve();
  readonly #optimizePacer: AutoOptimizePacer;
  #rewinds: TableRewindWatch;
  /** The instance id of the table this store has open (see {@link #reopenIfDropped}). */
  #instanceId: string | null;
  /** Where the database is, as `identity()` reports it: resolved once, at open ({@link canonicalUri}). */
  readonly #location: string;

  /** True only while {@link open} constructs a store (see the constructor's check). */
  static #opening = false;

  private constructor(
    options: ResolvedLanceDbVectorStoreOptions,
    db: Connection,
    table: Table,
    exactLayout: boolean,
    onAutoOptimizeError: ((error: DualwriteError) => void) | undefined,
    tableVersion: number,
    instanceId: string | null,
  ) {
    // The constructor is private to TypeScript only: a JavaScript caller's `new` would get a store with no
    // connection, failing later with a bare TypeError.
    if (!LanceDbVectorStore.#opening)
      throw new ValidationError(
        'new LanceDbVectorStore(options)',
        'use `await LanceDbVectorStore.open(options)`',
        {
          component,
        },
      );
    this.options = Object.freeze({ ...options });
    this.dimension = options.dimension;
    this.maxBatchSize = options.maxBatchSize;
    this.#db = db;
    this.#table = table;
    this.#exactLayout = exactLayout;
    this.#onAutoOptimizeError = onAutoOptimizeError;
    this.#optimizePacer = new AutoOptimizePacer(options.autoOptimizeEvery, options.autoOptimizeShare);
    this.#rewinds = new TableRewindWatch(tableVersion);
    this.#instanceId = instanceId;
    this.#location = canonicalUri(options.uri);
  }

  /**
   * Connects to the database directory `options.uri` (created if missing) and opens table
   * `options.table`, creating it empty with the adapter's schema if it does not exist.
   *
   * @param options - see {@link LanceDbVectorStoreOptions}.
   * @param hooks.onAutoOptimizeError - receives errors of background auto-optimize runs (they never fail
   *   the write that triggered them). Default: ignored.
   * @throws {ValidationError} for invalid options.
   * @throws {DimensionMismatchError} when the table exists with another vector dimension.
   * @throws {PermanentBackendError} when the table exists but is not a dualwrite table (other columns).
   * @throws {BackendUnavailableError} when the directory cannot be created, read or written.
   */
  static async open(
    options: LanceDbVectorStoreOptions,
    hooks: { onAutoOptimizeError?: (error: DualwriteError) => void } = {},
  ): Promise<LanceDbVectorStore> {
    const resolved = resolveLanceDbOptions(options);
    if (!resolved.create && !isRemoteUri(resolved.uri) && !existsSync(resolved.uri))
      throw new BackendUnavailableError(
        `options.uri ${JSON.stringify(resolved.uri)} does not exist and options.create is false`,
        { component },
      );
    let db: Connection;
    try {
      db = await connectBounded(resolved);
    } catch (error) {
      throw toLanceDbError(error, `connecting to ${resolved.uri}`);
    }
    try {
      const { table, exactLayout } = await openOrCreateTable(db, resolved);
      let version: number;
      let instanceId: string | null;
      try {
        await ensureTableKeys(table);
        version = await table.version();
        instanceId = await instanceIdOf(table);
      } catch (error) {
        table.close();
        throw error;
      }
      LanceDbVectorStore.#opening = true;
      try {
        return new LanceDbVectorStore(
          resolved,
          db,
          table,
          exactLayout,
          hooks.onAutoOptimizeError,
          version,
          instanceId,
        );
      } finally {
        LanceDbVectorStore.#opening = false;
      }
    } catch (error) {
      db.close();
      throw toLanceDbError(error, `opening table "${resolved.table}" in ${resolved.uri}`);
    }
  }

  /**
   * Inserts or replaces records by id (see the class notes for chunking and duplicate handling). With
   * `options.ifNewer` (or `rejectStaleVersions`), a record older than the stored one is left unwritten
   * and reported in `fenced`.
   * @returns `{ fenced }` for a fenced call, otherwise nothing.
   * @throws {DimensionMismatchError} when an embedding's length differs from {@link dimension}.
   * @throws {ValidationError} for NaN/±Infinity components, a non-integer version, or metadata / ids /
   *   text that cannot be stored (see {@link ADAPTER_LIMITS}). Nothing is written in either case.
   */
  upsert(records: readonly VectorRecord[], options?: UpsertOptions): Promise<UpsertReport | undefined> {
    return this.#run('upsert', async () => {
      if (!Array.isArray(records)) throw new ValidationError('records', 'must be an array', { component });
      const fence = options?.ifNewer ?? this.options.rejectStaleVersions;
      if (records.length === 0) return fence ? { fenced: [] } : undefined;
      const byId = new Map<string, LanceDbRow>();
      records.forEach((record, i) => {
        const row = this.#validateRecord(record, `records[${i}]`);
        byId.delete(row.id); // last wins
        byId.set(row.id, row);
      });
      const rows = [...byId.values()];
      const fenced: string[] = [];
      await this.#exclusive(async () => {
        const started = performance.now();
        for (let i = 0; i < rows.length; i += this.maxBatchSize)
          fenced.push(...(await this.#mergeChunk(rows.slice(i, i + this.maxBatchSize), fence)));
        this.#noteWrite(performance.now() - started);
      });
      return fence ? { fenced } : undefined;
    });
  }

  /**
   * Deletes ids; unknown ids are ignored. Any id string is safe (quoted literal, no injection). With `atMost`, a
   * listed id's row goes only while its version is at or below the given one (`id = … AND version <= …`, in the
   * same delete commit).
   */
  delete(ids: readonly string[], options: DeleteOptions = {}): Promise<void> {
    return this.#run('delete', async () => {
      const unique = storableIds(ids, 'ids');
      if (unique.length === 0) return;
      const chunk = Math.min(this.maxBatchSize, PREDICATE_CHUNK);
      await this.#exclusive(async () => {
        const started = performance.now();
        for (let i = 0; i < unique.length; i += chunk) {
          const result = await this.#table.delete(
            fencedIdPredicate(unique.slice(i, i + chunk), options.atMost),
          );
          this.#commitsOnHandle++;
          this.#rewinds.noteCommit(result.version);
        }
        this.#noteWrite(performance.now() - started);
      });
    });
  }

  /**
   * Nearest neighbours of `embedding`, best first, at most `k` (1..1,000). `score`/`distance` follow
   * {@link LanceDbDistance} (cosine by default: score = cosine similarity).
   * @throws {DimensionMismatchError} when the query's length differs from {@link dimension}.
   * @throws {ValidationError} for NaN/±Infinity components, `k` outside 1..1000 or a non-scalar filter value.
   */
  query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]> {
    return this.#read('query', async () => {
      const vector = validateVector(embedding, this.dimension, 'embedding');
      const k = options?.k;
      if (!Number.isInteger(k) || k < 1 || k > 1000)
        throw new ValidationError('options.k', `is ${String(k)}`, { component, limit: 'integer 1..1000' });
      const filter = validateFilter(options.filter);
      const where =
        filter.length > 0 ? filter.map(([key, value]) => metadataPrefilter(key, value)).join(' AND ') : '';
      for (let limit = k; ; limit *= OVERFETCH_FACTOR) {
        let q = this.#table
          .vectorSearch(vector)
          .distanceType(this.options.distance)
          .select([COLUMNS.id, COLUMNS.text, COLUMNS.metadata, COLUMNS.version, '_distance'])
          .limit(limit);
        if (where) q = q.where(where);
        const rows = rowsOfTable<QueryRow>(await q.toArrow());
        const hits: VectorHit[] = [];
        for (const row of rows) {
          const hit = this.#toHit(row);
          if (hit && matchesFilter(hit.metadata, filter)) hits.push(hit);
          if (hits.length === k) return hits;
        }
        if (rows.length < limit) return hits; // table exhausted
      }
    });
  }

  /** Stored versions of `ids` (the highest, should an id be stored twice); ids not in the table are absent. */
  getVersions(ids: readonly string[]): Promise<Map<string, number>> {
    return this.#read('getVersions', () => this.#versionsOf(storableIds(ids, 'ids')));
  }

  /**
   * What the table holds for `ids` — version, text, metadata and vector — for content checks (for an id
   * stored twice, its row with the highest version). Ids not in the table are absent. Reads `id IN (…)` in
   * chunks of 1,000 ids. A row whose metadata is not a JSON object reads as `UNREADABLE_METADATA_KEY`.
   */
  getRecords(ids: readonly string[]): Promise<Map<string, VectorRecord>> {
    return this.#read('getRecords', async () => {
      const out = new Map<string, VectorRecord>();
      const columns = [COLUMNS.vector, COLUMNS.text, COLUMNS.metadata, COLUMNS.version];
      const rows = await this.#rowsOf<StoredRow & { vector: Iterable<number> }>(
        storableIds(ids, 'ids'),
        columns,
      );
      for (const row of rows) {
        const version = Number(row.version);
        if ((out.get(row.id)?.version ?? -1) > version) continue;
        const { id, text } = row;
        out.set(id, { id, version, text, metadata: parseMetadata(row), embedding: Array.from(row.vector) });
      }
      return out;
    });
  }

  /**
   * One page of `(id, version)` rows in id order (UTF-8 byte order), `limit` 1..10,000 per page. A row
   * per stored row: an id stored twice is listed twice, next to each other, also across pages (the
   * cursor remembers how many rows of its last id were already listed). The cursor is opaque
   * (base64url); a page shorter than `limit` ends the listing.
   * @throws {ValidationError} for a bad `limit` or a cursor this adapter did not produce.
   */
  listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage> {
    return this.#read('listIds', async () => {
      const limit = options?.limit;
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        throw new ValidationError('options.limit', `is ${String(limit)}`, {
          component,
          limit: 'integer 1..10000',
        });
      const cursor = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
      const skip = cursor?.seen ?? 0;
      let q = this.#table
        .query()
        .select([COLUMNS.id, COLUMNS.version])
        .orderBy({ columnName: COLUMNS.id, ascending: true })
        .limit(limit + skip);
      if (cursor !== undefined) q = q.where(idAfterPredicate(cursor.after, true));
      const rows = rowsOfTable<{ id: string; version: bigint | number }>(await q.toArrow());
      // rows of the cursor's id come first; the first `seen` of them were on earlier pages
      let skipped = 0;
      const items: { id: string; version: number }[] = [];
      for (const r of rows) {
        if (cursor !== undefined && r.id === cursor.after && skipped < skip) skipped++;
        else if (items.length < limit) items.push({ id: r.id, version: Number(r.version) });
      }
      const last = items[items.length - 1];
      if (items.length < limit || !last) return { items, nextCursor: undefined };
      let seen = 0;
      for (let i = items.length - 1; i >= 0 && items[i]!.id === last.id; i--) seen++;
      if (cursor !== undefined && cursor.after === last.id) seen += skip;
      return { items, nextCursor: encodeCursor(last.id, seen) };
    });
  }

  /** Number of rows (vectors) in the table. */
  count(): Promise<number> {
    return this.#read('count', () => this.#table.countRows());
  }

  /**
   * The table this store writes: `{ backend: 'lancedb', location: <the directory's real path, symlinks resolved
   * at open (a URI with a scheme as given)>, collection: <table>,
   * instanceId: <the UUID on the id column>, dimension: <the table's vector dimension, 0 for a table that is
   * not a dualwrite table>, owner: <the token claimIndex stamped, or null> }`.
   * Reads the latest schema (checking out the latest version first when `readConsistencyIntervalSeconds` is not
   * 0), so a table that was dropped and recreated by another process shows its new instance id, and a checkpoint
   * another process stamped shows.
   */
  identity(): Promise<VectorIndexIdentity> {
    return this.#read('identity', async () => {
      // With a read consistency interval, this handle may still be on a version before another process's
      // latest stamp: the index check would read an older checkpoint and repair for nothing.
      if (this.options.readConsistencyIntervalSeconds !== 0)
        await this.#exclusive(() => this.#table.checkoutLatest());
      const schema = await this.#table.schema();
      const idField = schema.fields.find((f) => f.name === COLUMNS.id);
      // The table's own dimension, 0 when it is not a dualwrite table: one replaced under this handle by another
      // layout must not pass the binding check as the configured one (found by a break-it round).
      const inspection = inspectSchema(schema);
      return {
        backend: this.name,
        location: this.#location,
        collection: this.options.table,
        instanceId: idField?.metadata.get(INDEX_ID_METADATA_KEY) ?? null,
        dimension: inspection.ok ? inspection.dimension : 0,
        owner: idField?.metadata.get(OWNER_METADATA_KEY) ?? null,
        checkpoint: checkpointOf(idField?.metadata),
      };
    });
  }

  /**
   * Stamps the source of truth's owner token on the table (metadata of the `id` column, next to the instance
   * id; a schema-only commit), so `identity().owner` reports it to every process.
   */
  claimIndex(owner: string): Promise<void> {
    return this.#run('claimIndex', () =>
      this.#exclusive(async () => {
        await whileConfigConflicts(this.#table, async () => {
          const schema = await this.#table.schema();
          const current = schema.fields.find((f) => f.name === COLUMNS.id)?.metadata.get(OWNER_METADATA_KEY);
          if (current === owner) return; // already ours (another process of this source claimed it first)
          await this.#table.updateFieldMetadata([
            { path: COLUMNS.id, metadata: { [OWNER_METADATA_KEY]: owner } },
          ]);
          this.#commitsOnHandle++;
        });
      }),
    );
  }

  /**
   * Raises the index checkpoint on the table to `checkpoint` (metadata {@link CHECKPOINT_METADATA_KEY} of the
   * `id` column, a schema-only commit: restoring an older version of the table, or an older copy of its
   * directory, brings back the checkpoint it held then); a stamp at or below the one held changes nothing.
   * @throws {ValidationError} when `checkpoint` is not a positive safe integer.
   */
  stampCheckpoint(checkpoint: number): Promise<void> {
    if (!Number.isSafeInteger(checkpoint) || checkpoint < 1)
      return Promise.reject(
        new ValidationError(
          'checkpoint',
          `must be a positive safe integer, got ${describeValue(checkpoint)}`,
          {
            component,
            limit: '1..2^53 - 1',
          },
        ),
      );
    return this.#run('stampCheckpoint', () =>
      this.#exclusive(async () => {
        await whileConfigConflicts(this.#table, async () => {
          const schema = await this.#table.schema();
          const held = checkpointOf(schema.fields.find((f) => f.name === COLUMNS.id)?.metadata);
          if (held !== null && held >= checkpoint) return;
          await this.#table.updateFieldMetadata([
            { path: COLUMNS.id, metadata: { [CHECKPOINT_METADATA_KEY]: String(checkpoint) } },
          ]);
          this.#commitsOnHandle++;
        });
      }),
    );
  }

  /**
   * Highest `version` stored, or `null` for an empty table (a top-1 sort of the version column), read from the
   * table's latest version also on a handle with a read consistency interval: a stale answer, after a source
   * restored from a backup, would move the source's sequence past too low a version.
   */
  maxVersion(): Promise<number | null> {
    return this.#read('maxVersion', async () => {
      if (this.options.readConsistencyIntervalSeconds !== 0)
        await this.#exclusive(() => this.#table.checkoutLatest());
      const rows = (await this.#table
        .query()
        .select([COLUMNS.version])
        .orderBy({ columnName: COLUMNS.version, ascending: false })
        .limit(1)
        .toArray()) as { version: bigint | number }[];
      return rows[0] === undefined ? null : Number(rows[0].version);
    });
  }

  /**
   * The rows with `range.above < version <= range.atMost` (see `VectorStore.versionsInRange`): a filtered scan of
   * the `id` and `version` columns, read from the table's latest version (as {@link maxVersion}).
   * @throws {ValidationError} for a bound that is not a safe integer or a `limit` outside 1..10,000.
   */
  async versionsInRange(range: VersionRange): Promise<VersionedId[]> {
    checkVersionRange(range, component);
    return await this.#read('versionsInRange', async () => {
      if (this.options.readConsistencyIntervalSeconds !== 0)
        await this.#exclusive(() => this.#table.checkoutLatest());
      const below = range.atMost === undefined ? '' : ` AND ${COLUMNS.version} <= ${range.atMost}`;
      const rows = (await this.#table
        .query()
        .where(`${COLUMNS.version} > ${range.above}${below}`)
        .select([COLUMNS.id, COLUMNS.version])
        .limit(range.limit)
        .toArray()) as { id: string; version: bigint | number }[];
      return rows.map((row) => ({ id: row.id, version: Number(row.version) }));
    });
  }

  /**
   * Why the table went back in time under this store since the last call (see {@link TableRewindWatch}: a
   * write came back with a version at or below one already seen — an older copy of the index restored while
   * the process ran — or the table was opened again after it was dropped), once, or `undefined`. The facade asks
   * after every write and repairs the index.
   */
  takeRewind(): string | undefined {
    return this.#rewinds.take();
  }

  /**
   * How many times this store opened a new connection and table handle because the current ones had made or
   * seen `refreshTableEvery` commits (a gauge for memory investigations; see that option).
   */
  get handleRefreshes(): number {
    return this.#handleRefreshes;
  }

  /**
   * Under cosine distance (the default), an embedding with no direction — all zeros, or too small for float32
   * ({@link lacksDirection}) — gets a NaN distance in LanceDB and is never returned by a search: the facade
   * refuses it at `put` and `search` with this reason. `undefined` under `'l2'` and `'dot'`.
   */
  embeddingProblem(embedding: readonly number[]): string | undefined {
    return this.options.distance === 'cosine' && lacksDirection(embedding)
      ? "has no direction (its norm is below about 1.08e-19, too small for float32): under cosine distance LanceDB could store it but never find it, or rank it above exact matches (use distance 'l2' or 'dot' if zero vectors mean something to you)"
      : undefined;
  }

  /**
   * Cheap liveness probe: counts rows, which reads the latest table manifest from disk (no data files).
   * @throws {BackendUnavailableError} when that fails for any reason (directory removed, unreadable, ...).
   */
  ping(): Promise<void> {
    return this.#read('ping', async () => {
      try {
        await this.#table.countRows();
      } catch (error) {
        const mapped = toLanceDbError(error, 'ping');
        if (mapped instanceof ClosedError || mapped instanceof BackendUnavailableError) throw mapped;
        throw new BackendUnavailableError(mapped.message.replace(/^\[dualwrite\] \[lancedb\] /, ''), {
          component,
          cause: error,
        });
      }
    });
  }

  /**
   * Compacts small data files into larger ones, prunes table versions older than
   * `retainVersionsMs` (default 10 minutes) and folds new rows into any index (LanceDB `Table.optimize`, see
   * https://docs.lancedb.com/maintenance/compaction). Runs exclusively with this store's writes: a merge
   * insert always conflicts with a concurrent compaction (Lance's `Merge` operation names the whole fragment
   * list; lance-format/lance#6151), so running them side by side only turns the stall into retries.
   *
   * When to call it: every LanceDB write adds a table version and at least one small data fragment, and
   * reads slow down with the fragment count (measured: ~10× slower queries and id lookups after 200
   * single-record upserts). The store already calls it every `autoOptimizeEvery` writes (default 50);
   * call it yourself after a large backlog drain or bulk load, or on a timer if you disabled auto-optimize.
   * Safe while other processes read or write the table: it only removes versions older than the
   * retention window, and files no version references only once they are older than 7 days (LanceDB's
   * `deleteUnverified: false`), so another process's in-progress commit is never broken.
   * @returns LanceDB's compaction and prune statistics.
   */
  optimize(): Promise<LanceDbOptimizeStats> {
    return this.#run('optimize', () => this.#exclusive(() => this.#optimizeNow()));
  }

  /**
   * When this store optimizes by itself next (see `autoOptimizeEvery` and `autoOptimizeShare`): the write
   * calls between two automatic optimizes now, those since the latest optimize, and how long it took (ms).
   */
  autoOptimizeState(): AutoOptimizeState {
    return this.#optimizePacer.state();
  }

  /**
   * Waits for in-flight calls (including a background optimize), then releases the table and connection.
   * Idempotent; every later call throws {@link ClosedError}.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#closing = (async () => {
        while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
        await this.#writeChain.catch(() => {});
        try {
          this.#table.close();
        } finally {
          this.#db.close();
        }
      })();
    }
    return this.#closing;
  }

  // -------------------------------------------------------------------------------------------------

  /** A read by {@link #run}: one that failed because the table was dropped runs once more on the table opened again. */
  #read<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const read = this.#run(operation, fn, true);
    void read.then(
      () => this.#noteRead(),
      () => {},
    );
    return read;
  }

  /**
   * After a read: notes the table version the handle is on, and schedules a new connection and handle once it
   * has seen `refreshTableEvery` versions. A handle that only reads keeps memory for every version other
   * processes commit too — measured, a process reading a table another one committed ~23 times a second (`count`
   * and `getVersions` twice a second): RSS 165 → 240 MB in 5 minutes on one handle, flat at 142–153 MB with a
   * new one every 30 s. Best effort: a failed version read changes nothing.
   */
  async #noteRead(): Promise<void> {
    const refreshEvery = this.options.refreshTableEvery;
    if (refreshEvery === 0 || this.#closed || this.#refreshing) return;
    const table = this.#table;
    const version = await table.version().catch(() => undefined);
    if (version === undefined || table !== this.#table) return;
    const seen = this.#versionsOnHandle;
    if (seen === undefined) this.#versionsOnHandle = { first: version, latest: version };
    else seen.latest = Math.max(seen.latest, version);
    if (this.#handleStale()) this.#scheduleRefresh();
  }

  /** Whether the current handle made or saw `refreshTableEvery` commits (see {@link #refreshHandle}). */
  #handleStale(): boolean {
    const every = this.options.refreshTableEvery;
    const seen = this.#versionsOnHandle;
    return (
      every > 0 &&
      (this.#commitsOnHandle >= every || (seen !== undefined && seen.latest - seen.first >= every))
    );
  }

  /** Runs {@link #refreshHandle} after the writes queued now, unless one is scheduled already. */
  #scheduleRefresh(): void {
    if (this.#refreshing) return;
    this.#refreshing = true;
    const refresh = this.#exclusive(() => this.#refreshHandle())
      .catch(() => {
        // Keeping the current handle is always correct; the next write or read tries again.
      })
      .finally(() => {
        this.#refreshing = false;
      });
    this.#track(refresh);
  }

  /**
   * Runs an operation: rejects after close, maps errors, and tracks it so close() can wait for it. A read
   * (`read: true`) that failed because the table was dropped runs once more on the table opened again (it then
   * reads the new table); a write fails, and its caller retries it.
   */
  #run<T>(operation: string, fn: () => Promise<T>, read = false): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError('lancedb vector store', { component }));
    const promise = (async () => {
      try {
        return await fn();
      } catch (error) {
        if (!(await this.#reopenIfDropped(error)) || !read) throw toLanceDbError(error, operation);
      }
      try {
        return await fn();
      } catch (error) {
        throw toLanceDbError(error, operation);
      }
    })();
    this.#track(promise);
    return promise;
  }

  /**
   * After an error saying a file of the table was not found — the table dropped (and perhaps recreated) under
   * this live handle — opens the table again, creating it empty under a new instance id when it is gone (the
   * database directory still there), as {@link open} does. A read runs once more on the new table
   * ({@link #read}); a write is not retried here: its caller retries it. Writes then land again, and when the
   * table opened is another instance than before, the facade repairs the index from the source of truth at once
   * ({@link takeRewind} answers the reopen; the same instance — a file an optimize removed under an older
   * version this handle had read — is not reported). Before, every call kept failing with "Not found" and
   * delivery stopped until the process restarted (found by a new-user trial). Best effort: when the reopen fails too (a table of another
   * dimension or layout is there now), the next failing call tries again. For a remote URI (`s3://…`) nothing
   * tells a missing table from a missing bucket: the table is created again either way.
   * @returns whether the table was opened again.
   */
  async #reopenIfDropped(error: unknown): Promise<boolean> {
    if (this.#closed || !/not found/i.test(error instanceof Error ? error.message : String(error)))
      return false;
    // Only the table: a database directory that is gone (a volume unmounted, the directory removed) stays an
    // outage — recreating it would write the index somewhere nobody reads.
    if (!isRemoteUri(this.options.uri) && !existsSync(this.options.uri)) return false;
    return this.#exclusive(async () => {
      const { table, exactLayout } = await openOrCreateTable(this.#db, this.options);
      try {
        await ensureTableKeys(table);
        const instanceId = await instanceIdOf(table);
        // Another instance: the table was dropped (and created again, here or elsewhere). The same one: a file a
        // concurrent cleanup removed under an older version this handle read (found by a break-it round: two
        // false alarms in 20 s beside optimize with no retention); the rewind watch goes on.
        if (instanceId !== this.#instanceId)
          this.#rewinds = new TableRewindWatch(
            await table.version(),
            `the LanceDB table "${this.options.table}" was dropped under this process and opened again (created empty when it was gone): the records delivered before are missing from it`,
          );
        this.#instanceId = instanceId;
      } catch (keysError) {
        table.close();
        throw keysError;
      }
      const old = this.#table;
      this.#table = table;
      this.#exactLayout = exactLayout;
      this.#commitsOnHandle = 0;
      this.#versionsOnHandle = undefined;
      void Promise.allSettled([...this.#inflight]).then(() => old.close());
      return true;
    }).catch(() => false);
  }

  #track(promise: Promise<unknown>): void {
    this.#inflight.add(promise);
    const done = () => this.#inflight.delete(promise);
    promise.then(done, done);
  }

  /** Serialises writes (and optimize) of this instance: one LanceDB commit at a time. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#writeChain.then(fn);
    this.#writeChain = result.catch(() => {});
    return result;
  }

  /** One merge insert; with `fence`, returns the ids it left unwritten (a higher version is stored). */
  async #mergeChunk(rows: readonly LanceDbRow[], fence: boolean): Promise<string[]> {
    const builder = this.#table.mergeInsert(COLUMNS.id);
    const matched = fence
      ? builder.whenMatchedUpdateAll({ where: `target.${COLUMNS.version} <= source.${COLUMNS.version}` })
      : builder.whenMatchedUpdateAll();
    const result = await matched
      .whenNotMatchedInsertAll()
      .execute(this.#exactLayout ? toLanceTable(rows, this.dimension) : toLanceRows(rows));
    this.#commitsOnHandle++;
    this.#rewinds.noteCommit(result.version);
    if (!fence || result.numInsertedRows + result.numUpdatedRows >= rows.length) return [];
    const stored = await this.#versionsOf(rows.map((r) => r.id));
    return rows.filter((r) => (stored.get(r.id) ?? -1) > r.version).map((r) => r.id);
  }

  async #versionsOf(ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const row of await this.#rowsOf<{ id: string; version: bigint | number }>(ids, [COLUMNS.version]))
      out.set(row.id, Math.max(out.get(row.id) ?? -1, Number(row.version)));
    return out;
  }

  /** The rows of `ids` (every row of an id stored twice) with `id` and `columns`, `id IN (…)` in chunks of 1,000. */
  async #rowsOf<Row extends { id: string }>(
    ids: readonly string[],
    columns: readonly string[],
  ): Promise<Row[]> {
    const out: Row[] = [];
    for (let i = 0; i < ids.length; i += PREDICATE_CHUNK) {
      const table = await this.#table
        .query()
        .where(idInPredicate(ids.slice(i, i + PREDICATE_CHUNK)))
        .select([COLUMNS.id, ...columns])
        .toArrow();
      out.push(...rowsOfTable<Row>(table));
    }
    return out;
  }

  /**
   * Counts a write call that took `ms`; schedules a background optimize when the pacer says one is due (see
   * {@link AutoOptimizePacer}), and a new connection and table handle once `refreshTableEvery` commits went
   * through the current ones. Call inside #exclusive.
   */
  #noteWrite(ms: number): void {
    if (this.#handleStale()) this.#scheduleRefresh();
    if (!this.#optimizePacer.noteWrite(ms)) return;
    const background = this.#exclusive(() => this.#optimizeNow()).then(
      () => {},
      (error: unknown) => {
        this.#optimizePacer.noteOptimizeFailed();
        this.#onAutoOptimizeError?.(toLanceDbError(error, 'auto-optimize'));
      },
    );
    this.#track(background);
  }

  async #optimizeNow(): Promise<OptimizeStats> {
    const started = performance.now();
    const before = await this.#table.version();
    this.#rewinds.noteRead(before);
    const stats = await this.#table.optimize({
      cleanupOlderThan: new Date(Date.now() - this.options.retainVersionsMs),
    });
    const after = await this.#table.version();
    if (after > before) this.#rewinds.noteCommit(after); // it compacted something
    this.#commitsOnHandle++;
    this.#optimizePacer.noteOptimize(performance.now() - started);
    return stats;
  }

  /**
   * Swaps in a new connection (with its own session) and table handle, and closes the old ones once every
   * operation running now (reads may still use them) has settled. The connection keeps native memory for
   * every commit made through it and never gives it back — measured: ~75–80 KB per single-row merge insert
   * at 384-d, with 8 MiB session caches too, and reopening only the table handle did not help, while a new
   * connection did (lance-format/lance PR #7718 reports ~52 KB per commit on a long-lived handle) — and for
   * every version it read that other processes committed ({@link #noteRead}).
   */
  async #refreshHandle(): Promise<void> {
    if (this.#closed || !this.#handleStale()) return;
    const db = await connectBounded(this.options);
    let table: Table;
    try {
      table = await db.openTable(this.options.table);
    } catch (error) {
      db.close();
      throw error;
    }
    // A restore under the old handle shows as a version below the highest seen (a failed read: the next write
    // shows it instead).
    await table.version().then(
      (version) => this.#rewinds.noteRead(version),
      () => {},
    );
    const [oldDb, oldTable] = [this.#db, this.#table];
    this.#db = db;
    this.#table = table;
    this.#commitsOnHandle = 0;
    this.#versionsOnHandle = undefined;
    this.#handleRefreshes++;
    void Promise.allSettled([...this.#inflight]).then(() => {
      oldTable.close();
      oldDb.close();
    });
  }

  #validateRecord(record: VectorRecord, field: string): LanceDbRow {
    if (record === null || typeof record !== 'object')
      throw new ValidationError(field, 'must be an object', { component });
    const id = validateId(record.id, `${field}.id`, ADAPTER_LIMITS);
    const embedding = validateVector(record.embedding, this.dimension, `${field}.embedding`);
    const text = validateText(record.text, `${field}.text`, ADAPTER_LIMITS);
    const metadata = validateMetadata(record.metadata, `${field}.metadata`, ADAPTER_LIMITS);
    if (!Number.isSafeInteger(record.version))
      throw new ValidationError(
        `${field}.version`,
        `must be a safe integer, got ${describeValue(record.version)}`,
        {
          component,
          limit: 'integer within ±(2^53 - 1)',
        },
      );
    return { id, embedding, text, metadataJson: JSON.stringify(metadata), version: record.version };
  }

  #toHit(row: QueryRow): VectorHit | undefined {
    const distance = Number(row._distance);
    if (!Number.isFinite(distance)) return undefined; // e.g. cosine against an all-zero vector
    const metadata = parseMetadata(row);
    return {
      id: row.id,
      score: scoreOf(this.options.distance, distance),
      distance,
      version: Number(row.version),
      text: row.text,
      metadata,
    };
  }
}

/** A table row as a query returns it (without the vector). */
interface StoredRow {
  id: string;
  text: string;
  metadata: string;
  version: bigint | number;
}

interface QueryRow extends StoredRow {
  _distance: number;
}

/**
 * Connects to `options.uri` with a session of bounded caches: LanceDB's defaults (6 GB index, 1 GB metadata)
 * let a long backlog grow the process by hundreds of MB, since every write adds a version whose metadata
 * stays cached.
 */
function connectBounded(options: ResolvedLanceDbVectorStoreOptions): Promise<Connection> {
  const session = new Session(BigInt(options.indexCacheBytes), BigInt(options.metadataCacheBytes));
  return connect(options.uri, { readConsistencyInterval: options.readConsistencyIntervalSeconds }, session);
}

/** What `createEmptyTable` throws when another handle created the table first (see {@link openOrCreateTable}). */
const LOST_CREATION_RACE = /schema|commit conflict|incompatible transaction|already exists/i;

/** The table, and whether its layout is exactly the adapter's (see `SchemaInspection.exact`). */
async function openOrCreateTable(
  db: Connection,
  options: ResolvedLanceDbVectorStoreOptions,
): Promise<{ table: Table; exactLayout: boolean }> {
  let table: Table;
  try {
    table = await db.openTable(options.table);
  } catch (error) {
    if (!/was not found/i.test(error instanceof Error ? error.message : String(error))) throw error;
    if (!options.create)
      throw new BackendUnavailableError(
        `table "${options.table}" does not exist in ${options.uri} and options.create is false`,
        { component, cause: error },
      );
    try {
      table = await db.createEmptyTable(options.table, lanceDbSchema(options.dimension, randomUUID()), {
        mode: 'create',
        existOk: true,
      });
    } catch (createError) {
      // Lost a creation race: against a table with another schema, or against another process's creation of the
      // same table (Lance: "Retryable commit conflict … Overwrite transaction was preempted by concurrent
      // transaction Overwrite", seen with three processes of one source starting at once). Inspect what is there.
      if (!LOST_CREATION_RACE.test(createError instanceof Error ? createError.message : String(createError)))
        throw createError;
      table = await db.openTable(options.table);
    }
  }
  try {
    const inspection = inspectSchema(await table.schema());
    if (!inspection.ok)
      throw new PermanentBackendError(
        `table "${options.table}" in ${options.uri} is not a dualwrite table: ${inspection.problem}`,
        { component },
      );
    if (inspection.dimension !== options.dimension)
      throw new DimensionMismatchError(
        `options.dimension (table "${options.table}" in ${options.uri})`,
        inspection.dimension,
        options.dimension,
        { component },
      );
    return { table, exactLayout: inspection.exact };
  } catch (error) {
    table.close();
    throw error;
  }
}

/** Finite numbers of the right length, as a Float32Array for LanceDB. */
function validateVector(embedding: unknown, dimension: number, field: string): Float32Array {
  if (
    !Array.isArray(embedding) &&
    !(embedding instanceof Float32Array) &&
    !(embedding instanceof Float64Array)
  )
    throw new ValidationError(field, 'must be an array of numbers', { component });
  const values = embedding as ArrayLike<unknown>;
  if (values.length !== dimension)
    throw new DimensionMismatchError(field, dimension, values.length, { component });
  const out = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ValidationError(`${field}[${i}]`, `must be a finite number, got ${describeValue(v)}`, {
        component,
        limit: 'finite number',
      });
    out[i] = v;
    if (!Number.isFinite(out[i]))
      throw new ValidationError(`${field}[${i}]`, `is ${v}, which is infinite as float32`, {
        component,
        limit: '|value| <= 3.4028234663852886e38 (float32)',
      });
  }
  return out;
}

/**
 * A local directory's real path (absolute, symlinks resolved: one directory reached through a symlink and
 * through its own path is one location), or the absolute path when it cannot be resolved; a URI with a scheme
 * (`s3://`, `gs://`, ...) as it is.
 */
function canonicalUri(uri: string): string {
  if (isRemoteUri(uri)) return uri;
  try {
    return realpathSync(uri);
  } catch {
    return resolve(uri);
  }
}

/** Whether `uri` names a remote store (`s3://…`, `gs://…`) rather than a local directory. */
function isRemoteUri(uri: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(uri);
}

/**
 * Makes an existing table safe for dualwrite's concurrent writers: declares `id` the unenforced primary
 * key (LanceDB then detects concurrent inserts of one new id) and gives the table an instance id. Both
 * are set once; a concurrent first open that set them first is fine.
 */
async function ensureTableKeys(table: Table): Promise<void> {
  const idField = () => table.schema().then((s) => s.fields.find((f) => f.name === COLUMNS.id));
  let field = await idField();
  const hasKey = () =>
    [...(field?.metadata.keys() ?? [])].some((k) => k.startsWith(PRIMARY_KEY_METADATA_PREFIX));
  await whileConfigConflicts(table, async () => {
    field = await idField();
    if (hasKey()) return;
    try {
      await table.setUnenforcedPrimaryKey(COLUMNS.id);
    } catch (error) {
      field = await idField();
      if (!hasKey()) throw error;
    }
  });
  const id = randomUUID();
  await whileConfigConflicts(table, async () => {
    field = await idField();
    if (!field?.metadata.has(INDEX_ID_METADATA_KEY))
      await table.updateFieldMetadata([{ path: COLUMNS.id, metadata: { [INDEX_ID_METADATA_KEY]: id } }]);
  });
}

/** The instance id on `table`'s `id` column ({@link INDEX_ID_METADATA_KEY}), or `null` when none is there. */
async function instanceIdOf(table: Table): Promise<string | null> {
  const schema = await table.schema();
  return schema.fields.find((f) => f.name === COLUMNS.id)?.metadata.get(INDEX_ID_METADATA_KEY) ?? null;
}

/** The checkpoint in an `id` column's metadata, or `null` when none (or not a positive integer) is there. */
function checkpointOf(metadata: ReadonlyMap<string, string> | undefined): number | null {
  const raw = metadata?.get(CHECKPOINT_METADATA_KEY);
  const checkpoint = raw === undefined ? Number.NaN : Number(raw);
  return Number.isSafeInteger(checkpoint) && checkpoint > 0 ? checkpoint : null;
}

/** Attempts of {@link whileConfigConflicts}: with its capped pause, about 2 s of contention in all. */
const CONFIG_ATTEMPTS = 20;

/** Longest pause of {@link whileConfigConflicts} before the jitter, ms. */
const CONFIG_PAUSE_CAP_MS = 100;

/**
 * Runs a schema-metadata update of `table`, again (on the latest version, after a jittered pause growing with
 * the attempt, 10 ms per attempt up to 100 ms) when another handle committed at the same moment: Lance refuses an `UpdateConfig`
 * transaction concurrent with another one or with the table's creation ("Incompatible transaction"), which
 * several processes opening a new table at once, or claiming it, run into; and a handle stays on the version
 * it read until it checks out the latest. `fn` re-reads what it needs.
 */
async function whileConfigConflicts(table: Table, fn: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fn();
      return;
    } catch (error) {
      if (attempt >= CONFIG_ATTEMPTS || !/incompatible transaction|commit conflict/i.test(String(error)))
        throw error;
      await new Promise((r) =>
        setTimeout(r, Math.min(10 * attempt, CONFIG_PAUSE_CAP_MS) * (0.5 + Math.random())),
      );
      await table.checkoutLatest();
    }
  }
}

/**
 * Key of the metadata a row reads back as when its metadata column is not a JSON object (another tool wrote
 * `null`, an array, a number, or text that is not JSON): `{ [UNREADABLE_METADATA_KEY]: <the column's text> }`.
 * The prefix is reserved, so no record's metadata equals it: the index checks report the row as mismatched and
 * the repair rewrites it. Before, `null` threw in every check (none found anything, also elsewhere in the index)
 * and text that is not JSON failed every check and every search (a break-it round).
 */
export const UNREADABLE_METADATA_KEY = `${RESERVED_METADATA_PREFIX}_unreadable_metadata`;

/** A row's metadata column: a JSON object, else {@link UNREADABLE_METADATA_KEY} holding the column's text. */
function parseMetadata(row: { id: string; metadata: string }): Metadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(row.metadata);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Metadata;
  return { [UNREADABLE_METADATA_KEY]: String(row.metadata) };
}

function validateFilter(filter: MetadataFilter | undefined): [string, string | number | boolean][] {
  if (filter === undefined) return [];
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter))
    throw new ValidationError('options.filter', 'must be a flat object', { component });
  const entries = Object.entries(filter);
  for (const [key, value] of entries) {
    const ok =
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value));
    if (!ok)
      throw new ValidationError(`options.filter.${key}`, `must be a string, finite number or boolean`, {
        component,
        limit: 'string | finite number | boolean',
      });
  }
  return entries;
}

function matchesFilter(metadata: Metadata, filter: readonly [string, string | number | boolean][]): boolean {
  return filter.every(([key, value]) => Object.hasOwn(metadata, key) && metadata[key] === value);
}

/** Lone UTF-16 surrogate: cannot be stored (UTF-8 encoding would replace it with U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Distinct ids that a row can hold. dualwrite never writes an empty id or one with NUL, but another tool can
 * (LanceDB stores any UTF-8 string), and such a row must be readable and deletable as an orphan (a break-it round:
 * skipped here, a foreign row with id `''` survived every repair, each periodic check running a full repair).
 * An id with a lone surrogate matches nothing: UTF-8 cannot hold it (it would be sent as U+FFFD, another id).
 */
function storableIds(ids: readonly string[], field: string): string[] {
  if (!Array.isArray(ids)) throw new ValidationError(field, 'must be an array of strings', { component });
  const out = new Set<string>();
  ids.forEach((id, i) => {
    if (typeof id !== 'string')
      throw new ValidationError(`${field}[${i}]`, 'must be a string', { component });
    if (!LONE_SURROGATE.test(id)) out.add(id);
  });
  return [...out];
}

function scoreOf(distance: LanceDbDistance, d: number): number {
  switch (distance) {
    case 'cosine':
      return 1 - d;
    case 'l2':
      return 1 / (1 + d);
    case 'dot':
      return 1 - d;
  }
}

/** `seen`: rows of `lastId` already listed (more than 1 only when the id is stored twice). */
function encodeCursor(lastId: string, seen: number): string {
  return Buffer.from(JSON.stringify({ after: lastId, seen }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { after: string; seen: number } {
  try {
    if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      after?: unknown;
      seen?: unknown;
    };
    if (typeof parsed.after !== 'string') throw new Error('no "after"');
    const seen = parsed.seen ?? 1;
    if (typeof seen !== 'number' || !Number.isInteger(seen) || seen < 1) throw new Error('bad "seen"');
    return { after: parsed.after, seen };
  } catch (error) {
    throw new ValidationError('options.cursor', 'is not a cursor returned by this store', {
      component,
      cause: error,
    });
  }
}
