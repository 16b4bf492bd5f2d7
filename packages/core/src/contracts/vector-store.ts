import type { Metadata, MetadataValue, VectorRecord } from '../record/types.js';

/**
 * Metadata filter for {@link VectorStore.query}: every key must equal its value (logical AND of
 * equalities). `{}` or `undefined` matches everything.
 */
export type MetadataFilter = Record<string, MetadataValue>;

/** Options for {@link VectorStore.query}. */
export interface VectorQueryOptions {
  /** Number of nearest neighbours to return, 1..1000. */
  k: number;
  /** Equality filter on metadata. */
  filter?: MetadataFilter;
}

/** One nearest neighbour. */
export interface VectorHit {
  id: string;
  /** Similarity in [-1, 1] for cosine (higher is closer); adapters document their metric. */
  score: number;
  /** Raw distance the backend reported (lower is closer). */
  distance: number;
  /** Source-of-truth version the vector was built from. */
  version: number;
  text: string;
  metadata: Metadata;
}

/**
 * Which index a store writes to, as {@link VectorStore.identity} reports it. The source of truth records
 * it (the *index binding*) so a process configured for another index is refused, and an index that was
 * dropped and recreated underneath a live handle is noticed.
 */
export interface VectorIndexIdentity {
  /** Backend name, e.g. `'lancedb'`, `'chroma'`. */
  backend: string;
  /** Where the index lives: an absolute directory path or a server URL (never credentials). */
  location: string;
  /** Table or collection name. */
  collection: string;
  /**
   * The backend's own id of this table/collection *instance* (Chroma's collection UUID; a UUID the LanceDB
   * adapter stores in the table schema). It changes when the table or collection is dropped and recreated
   * under the same name; `null` when the backend has none.
   */
  instanceId: string | null;
  /** Vector dimension (float components). */
  dimension: number;
  /**
   * The token of the source of truth that feeds this index, as {@link VectorStore.claimIndex} stamped it on
   * the table or collection; `null` when none did. Absent on stores without `claimIndex`.
   */
  owner?: string | null;
  /**
   * The highest checkpoint {@link VectorStore.stampCheckpoint} stamped on the table or collection, held in the
   * index's own versioned metadata (an older copy of the index holds an older checkpoint); `null` when none
   * was. Absent on stores without `stampCheckpoint`.
   */
  checkpoint?: number | null;
}

/** Options of {@link VectorStore.delete}. */
export interface DeleteOptions {
  /**
   * Version fence for deletes: each listed id's row is deleted only while its version is at or below this one,
   * so a late delete — its lease expired while another worker delivered a newer state of the id, or its
   * process stopped for that long — never removes the newer state (a break-it round: the index lost an
   * acknowledged record while SQL said synced). Ids not listed are deleted whatever their version. Only stores
   * with `versionFence: true` honour it; others delete unconditionally.
   */
  atMost?: ReadonlyMap<string, number>;
}

/** Options of {@link VectorStore.upsert}. */
export interface UpsertOptions {
  /**
   * Version fence: leave a record unwritten when the index already holds a *higher* version of its id (an
   * equal version is rewritten: idempotent redelivery). Only stores with `versionFence: true` honour it;
   * others write unconditionally and return nothing. Default `false`.
   */
  ifNewer?: boolean;
}

/** What a fenced {@link VectorStore.upsert} did. */
export interface UpsertReport {
  /** Ids left unwritten by the fence because the index holds a higher version of them. */
  fenced: string[];
}

/** One page of {@link VectorStore.listIds}. */
/** A version range of {@link VectorStore.versionsInRange}: `above < version <= atMost`, at most `limit` rows. */
export interface VersionRange {
  /** Exclusive lower bound (a safe integer). */
  above: number;
  /** Inclusive upper bound (a safe integer); none when omitted. */
  atMost?: number;
  /** Most rows returned, 1..10,000. */
  limit: number;
}

/** An index row's id and version. */
export interface VersionedId {
  id: string;
  version: number;
}

export interface VectorIdPage {
  items: { id: string; version: number }[];
  /** Opaque cursor for the next page; `undefined` when this was the last page. */
  nextCursor: string | undefined;
}

/**
 * A vector index holding a derived copy of the records. Adapters implement this contract and run the
 * `vectorStoreSuite` from `@dualwrite/core/testing` against their real backend.
 *
 * Errors: adapters throw {@link ValidationError} / {@link DimensionMismatchError} for input the backend
 * would reject (before sending anything), {@link BackendUnavailableError} when the backend cannot be
 * reached, {@link TransientBackendError} for 5xx/429/timeouts, {@link PermanentBackendError} for other
 * rejections, and {@link ClosedError} after {@link VectorStore.close}.
 */
export interface VectorStore {
  /** Short backend name used in errors, stats and benchmark rows, e.g. `'lancedb'`. */
  readonly name: string;
  /** Vector dimension of the collection (number of float components). */
  readonly dimension: number;
  /**
   * Largest number of records one `upsert` or `delete` call sends to the backend. Callers may pass more;
   * the adapter then splits the call into chunks of at most this many.
   */
  readonly maxBatchSize: number;

  /**
   * How many `upsert`/`delete` calls the backend tolerates at once on one table or collection; the outbox
   * drainer never runs more delivery loops than this (its `concurrency` is capped). Optional: unbounded
   * when absent. LanceDB: 1 (every write is a table commit; concurrent commits conflict and retry). Chroma:
   * 2 (Chroma's performance guidance: a couple of concurrent inserters, batches of 50–250).
   */
  readonly maxConcurrentWrites?: number;

  /**
   * `true` when {@link upsert} honours {@link UpsertOptions.ifNewer} atomically in the backend (e.g. a
   * conditional merge on the version column). Default `false`.
   */
  readonly versionFence?: boolean;

  /**
   * Idempotently inserts or replaces records by id: the index holds at most one row per id, also when
   * several handles or processes upsert the same new id at once. Re-upserting the same record is a no-op
   * in effect; duplicate ids inside one call are allowed and the last one wins.
   * @returns with `ifNewer` on a {@link versionFence} store, the ids the fence skipped; otherwise nothing.
   * @throws {DimensionMismatchError} if any embedding's length differs from {@link dimension} (nothing sent).
   * @throws {ValidationError} for NaN/±Infinity components or metadata the backend cannot store.
   */
  upsert(records: readonly VectorRecord[], options?: UpsertOptions): Promise<UpsertReport | undefined>;

  /**
   * Deletes ids. Unknown ids are ignored (not an error). Any id string is safe (no predicate injection). With
   * `atMost` on a {@link versionFence} store, a listed id's row is deleted only while its version is at or below
   * the given one (see {@link DeleteOptions}).
   */
  delete(ids: readonly string[], options?: DeleteOptions): Promise<void>;

  /**
   * Nearest neighbours of `embedding`, best first, at most `k`.
   * @throws {DimensionMismatchError} if the query's length differs from {@link dimension}.
   */
  query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]>;

  /** Versions stored for `ids`; ids not in the index are absent from the map. */
  getVersions(ids: readonly string[]): Promise<Map<string, number>>;

  /**
   * Optional: what the index holds for `ids` — version, text, metadata (dualwrite's reserved keys removed)
   * and the vector (its float32 values; within `vectorsMatch`'s tolerance where the backend's API rounds
   * them further) — so a check can compare the index's *content* with the source of truth, not only ids and
   * versions (`verifyConsistency` and `reconcile` do when it is present: a row edited behind dualwrite's back,
   * or written by another application sharing the index, keeps its version). Ids not in the index are absent;
   * for an id held twice, one of its rows. Any number of ids (adapters read in chunks).
   */
  getRecords?(ids: readonly string[]): Promise<Map<string, VectorRecord>>;

  /**
   * Pages through every id in the index with its version, `limit` (1..10,000) per page, in an
   * adapter-defined stable order. Memory is bounded by `limit`. Concurrent writes may make a page skip or
   * repeat an id; reconciliation tolerates that (it converges on the next run). A backend without unique
   * keys that ended up holding two rows of one id lists the id once per row, the rows next to each other
   * (also across a page boundary), so reconciliation can count and repair duplicates.
   */
  listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage>;

  /** Number of vectors in the index. */
  count(): Promise<number>;

  /**
   * Which index this store writes to (see {@link VectorIndexIdentity}). Optional; stores without it cannot
   * be bound, so a replaced index is found only by counts and reconciliation.
   * @throws {BackendUnavailableError} when the backend cannot be reached.
   */
  identity?(): Promise<VectorIndexIdentity>;

  /**
   * Optional (with {@link identity}): stamps `owner` — the token of the source of truth that feeds this index
   * — on the table or collection itself, replacing any, so `identity().owner` reports it to every process
   * that opens the index. The index binding uses it to refuse a second source of truth writing the same
   * index: two sources overwrite each other's rows at versions each believes its own.
   * @throws {BackendUnavailableError} when the backend cannot be reached.
   */
  claimIndex?(owner: string): Promise<void>;

  /**
   * Optional (with {@link identity}): raises the checkpoint held by the table or collection itself to
   * `checkpoint` (a positive safe integer), never lowering it — a stamp below the one held changes nothing — so
   * `identity().checkpoint` reports it to every process. It must live where a restore of the index takes it
   * back with the rows (LanceDB: the table's schema metadata, a versioned commit; Chroma: the collection's
   * metadata). The index check stamps one at every pass and records it in the source of truth: an index
   * holding less went back in time, however many writes landed on it since (see `passCheckpoint` in core).
   * @throws {BackendUnavailableError} when the backend cannot be reached.
   */
  stampCheckpoint?(checkpoint: number): Promise<void>;

  /**
   * Highest record version stored in the index, or `null` when it is empty. Optional; a {@link
   * versionFence} store should have it, so a source of truth whose version sequence went backwards
   * (restored from a backup) is detected and moved past the index's versions instead of being fenced out.
   */
  maxVersion?(): Promise<number | null>;

  /**
   * The rows whose version is above `range.above` and at most `range.atMost` (no upper bound when omitted): their
   * ids and versions, at most `range.limit` (1..10,000) of them, in any order (an id stored twice appears twice).
   * Optional. The periodic check reads the rows delivered since its previous pass and compares them with the
   * source of truth: a row ahead of its record means the source went back in time (restored from a backup)
   * however old the record, and a row of an id the source never had was written by another source.
   * @throws {ValidationError} for a bound that is not a safe integer, or a `limit` outside 1..10,000.
   * @throws {BackendUnavailableError} when the backend cannot be reached.
   */
  versionsInRange?(range: VersionRange): Promise<VersionedId[]>;

  /**
   * Why this backend cannot store metadata key `key` faithfully (reserved prefix, a key its client
   * drops), or `undefined` when it can. Optional; the facade asks it for every key at `put`, so such a
   * record is refused with a {@link ValidationError} instead of being accepted and dead-lettered later.
   */
  metadataKeyProblem?(key: string): string | undefined;

  /**
   * Optional: why the index went back in time under this store since the last call — a write came back with a
   * version at or below one this store had already seen (an older copy of the index restored while the process
   * ran), or the store found its table or collection gone and opened (or created) it again — or `undefined`.
   * Each is answered once. Both lose acknowledged writes while the row count and the highest version can still
   * look right (writes after them raise them again), so only the store sees it happen; the facade asks after
   * every write it makes to the index and at each periodic check, and repairs the index (a full reconcile) when
   * it answers, so a flush waits for that repair. LanceDB: from the table version every commit returns, and a
   * table opened again after a "not found"; Chroma: a collection resolved again to another id.
   */
  takeRewind?(): string | undefined;

  /**
   * Why this index could store `embedding` (already checked for length and finite values) but never return
   * it from a search, or `undefined` when it can. Optional; the facade asks it for a caller's embedding at
   * `put` and for a search's query, and refuses such a one with a {@link ValidationError}. LanceDB under
   * cosine distance: an all-zero vector has no direction, its distance is NaN, and LanceDB drops the row from
   * every result (Chroma finds such rows: it has no problem to report).
   */
  embeddingProblem?(embedding: readonly number[]): string | undefined;

  /**
   * Why no write request of this backend can carry `record` — its size, as the backend's request encodes it
   * (with an embedding of {@link dimension}), is above what the server accepts — or `undefined`. Optional; the
   * facade asks it at `put` after its own `limits`, so a record that raised `limits` let through is refused with
   * a {@link ValidationError} instead of being accepted and dead-lettered (Chroma's frontend answers HTTP 413
   * above its payload limit, found by a break-it round with a 40 MiB text).
   */
  recordSizeProblem?(record: { id: string; text: string; metadata: Metadata }): string | undefined;

  /**
   * Cheap liveness probe.
   * @throws {BackendUnavailableError} when the backend cannot be reached.
   */
  ping(): Promise<void>;

  /** Releases resources. Further calls throw {@link ClosedError}. Idempotent. */
  close(): Promise<void>;
}
