import {
  BackendUnavailableError,
  ClosedError,
  checkVersionRange,
  chunksBySize,
  DimensionMismatchError,
  describeValue,
  IndexBindingError,
  lacksDirection,
  type Metadata,
  type MetadataValue,
  PermanentBackendError,
  ValidationError,
  type VectorHit,
  type VectorIdPage,
  type VectorIndexIdentity,
  type VectorQueryOptions,
  type VectorRecord,
  type VectorStore,
  type VersionedId,
  type VersionRange,
} from '@dualwrite/core';
import { ChromaClient, type Collection, type GetResult } from 'chromadb';
import { CHROMA_COMPONENT, createChromaTransport, toDualwriteError } from './chroma-errors.js';
import {
  CHROMA_VERSION_KEY,
  type ChromaRecordMetadata,
  checkChromaEmbedding,
  checkChromaId,
  checkChromaText,
  chromaKeyProblem,
  fromChromaMetadata,
  toChromaMetadata,
  toChromaWhere,
} from './chroma-metadata.js';
import {
  type ChromaDistance,
  type ChromaVectorStoreOptions,
  type ResolvedChromaVectorStoreOptions,
  resolveChromaVectorStoreOptions,
} from './chroma-vector-store-options.js';

const component = CHROMA_COMPONENT;

/** Largest `k` accepted by {@link ChromaVectorStore.query} (the `VectorStore` contract's bound). */
export const CHROMA_MAX_QUERY_K = 1000;
/** Largest page accepted by {@link ChromaVectorStore.listIds} (the `VectorStore` contract's bound). */
export const CHROMA_MAX_LIST_LIMIT = 10_000;

interface PreparedRecord {
  id: string;
  embedding: number[];
  document: string;
  metadata: ChromaRecordMetadata;
  bytes: number;
}

/** Little-endian float32 bytes as base64: the embedding encoding Chroma accepts when `supports_base64_encoding`. */
function float32Base64(embedding: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(embedding.length * 4);
  for (let i = 0; i < embedding.length; i++) bytes.writeFloatLE(embedding[i]!, i * 4);
  return bytes.toString('base64');
}

/** Score from a Chroma distance (see {@link ChromaDistance}). */
export function chromaScore(distance: number, space: ChromaDistance): number {
  return space === 'l2' ? -distance : 1 - distance;
}

/** Collection metadata key holding the owner token of the source of truth that feeds it (`claimIndex`). */
export const CHROMA_OWNER_METADATA_KEY = 'dualwrite_owner';

function ownerOf(metadata: Record<string, unknown> | null): string | null {
  const owner = metadata?.[CHROMA_OWNER_METADATA_KEY];
  return typeof owner === 'string' ? owner : null;
}

/**
 * Collection metadata key holding the index checkpoint (`stampCheckpoint`, an integer). Chroma keeps collection
 * metadata in its own database, so restoring an older copy of the server's data brings back the older checkpoint.
 */
export const CHROMA_CHECKPOINT_METADATA_KEY = 'dualwrite_checkpoint';

function checkpointOf(metadata: Record<string, unknown> | null): number | null {
  const checkpoint = metadata?.[CHROMA_CHECKPOINT_METADATA_KEY];
  return typeof checkpoint === 'number' && Number.isSafeInteger(checkpoint) && checkpoint > 0
    ? checkpoint
    : null;
}

/** Collection metadata `modify` can write back: the distance lives in the configuration; legacy `hnsw:` keys cannot be written. */
function writableMetadata(metadata: Record<string, unknown> | null): Record<string, unknown> {
  return Object.fromEntries(Object.entries(metadata ?? {}).filter(([k]) => !k.startsWith('hnsw:')));
}

/**
 * {@link VectorStore} backed by a Chroma 1.x server over HTTP (the `chromadb` 3.x JS client).
 *
 * - Records map to Chroma as: id → id, embedding → embedding, text → document, metadata → metadata plus the
 *   version under `_dw_version` (see `chroma-metadata.ts`).
 * - The collection is created on first use (`getOrCreateCollection`) with `configuration.hnsw.space` =
 *   {@link ChromaVectorStoreOptions.distance} and no embedding function (`embeddingFunction: null`: dualwrite
 *   always sends embeddings, so the client never loads a model). If the collection already exists with a
 *   different space, the first call throws {@link ValidationError} (`options.distance`).
 * - Writes are validated completely before anything is sent, de-duplicated (last wins), and split into
 *   requests of at most {@link maxBatchSize} records and about `maxRequestBytes` bytes. A multi-request
 *   call is not atomic: if request 3 of 5 fails, 1–2 stay applied (upserts/deletes are idempotent, so a retry
 *   converges).
 * - Errors are typed (component `'chroma'`); see `chroma-errors.ts` for the HTTP mapping.
 *
 * Create instances with {@link ChromaVectorStore.open}.
 */
export class ChromaVectorStore implements VectorStore {
  /** Always `'chroma'`. */
  readonly name = 'chroma';
  /**
   * 2: Chroma's guidance for bulk loading is a couple of concurrent inserters with batches of 50–250; more
   * concurrent writers to one collection contend on its write-ahead log.
   */
  readonly maxConcurrentWrites = 2;
  /** Vector dimension (from the options). */
  readonly dimension: number;
  /** Distance function of the collection. */
  readonly distance: ChromaDistance;
  /** Collection name. */
  readonly collectionName: string;
  /** Server base URL. */
  readonly url: string;
  /**
   * `true` when the typed transport (timeouts, status codes, `Retry-After`) could be installed into the
   * `chromadb` client (it replaces the client's internal `fetch`). When `false`, errors are mapped from the
   * client's own error classes and lose the HTTP status and `Retry-After`.
   */
  readonly transportInstalled: boolean;

  readonly #options: ResolvedChromaVectorStoreOptions;
  readonly #client: ChromaClient;
  readonly #transport: (request: Request) => Promise<Response>;
  #serverMaxBatchSize: number | undefined;
  #base64 = true;
  #collection: Promise<Collection> | undefined;
  #closed = false;
  /**
   * Times the collection was resolved. 0 until the first resolution succeeded — the store's first call, e.g.
   * createDualWrite's binding check (`open` does not resolve it) — so a mismatch then is a configuration error.
   */
  #resolved = 0;
  /** The id of the collection last resolved (a collection deleted and created again gets another). */
  #collectionId: string | undefined;
  /** Why the index is in question since it was resolved to another collection, until {@link takeRewind}. */
  #replaced: string | undefined;
  /** The owner token last seen on the collection (resolved, read by {@link identity}, or stamped by {@link claimIndex}). */
  #owner: string | null = null;
  /** Aborted by {@link close}: cancels requests still in flight. */
  readonly #closing = new AbortController();

  /** True only while {@link open} constructs a store (see the constructor's check). */
  static #opening = false;

  private constructor(options: ResolvedChromaVectorStoreOptions) {
    // The constructor is private to TypeScript only: a JavaScript caller's `new` would skip the options'
    // validation and defaults and the server's limits.
    if (!ChromaVectorStore.#opening)
      throw new ValidationError(
        'new ChromaVectorStore(options)',
        'use `await ChromaVectorStore.open(options)`',
        {
          component,
        },
      );
    this.#options = options;
    this.dimension = options.dimension;
    this.distance = options.distance;
    this.collectionName = options.collection;
    this.url = options.url;
    const url = new URL(options.url);
    const ssl = url.protocol === 'https:';
    this.#client = new ChromaClient({
      host: url.hostname,
      port: url.port ? Number(url.port) : ssl ? 443 : 80,
      ssl,
      tenant: options.tenant,
      database: options.database,
      headers: options.headers,
    });
    // The client's HTTP layer (a hey-api client) accepts a replacement fetch. `apiClient` is not part of
    // chromadb's typed API, so feature-detect it.
    const api = (
      this.#client as unknown as { apiClient?: { setConfig?: (config: Record<string, unknown>) => unknown } }
    ).apiClient;
    this.#transport = createChromaTransport({
      timeoutMs: options.requestTimeoutMs,
      closed: this.#closing.signal,
    });
    if (typeof api?.setConfig === 'function') {
      api.setConfig({ fetch: this.#transport, baseUrl: options.url });
      this.transportInstalled = true;
    } else this.transportInstalled = false;
  }

  /**
   * Creates a store and asks the server for its limits (`GET /api/v2/pre-flight-checks` via
   * `client.getMaxBatchSize()`). The collection itself is created lazily on first use.
   *
   * When {@link ChromaVectorStoreOptions.maxBatchSize} is given and the server is unreachable, the store is
   * still returned (the server limit is fetched on first use), so an application can start while Chroma is
   * down.
   *
   * @throws {ValidationError} for invalid options.
   * @throws {BackendUnavailableError} when the server cannot be reached (and no `maxBatchSize` override is set).
   * @throws {TransientBackendError} / {@link PermanentBackendError} when the pre-flight request fails.
   */
  static async open(options: ChromaVectorStoreOptions): Promise<ChromaVectorStore> {
    const resolved = resolveChromaVectorStoreOptions(options);
    ChromaVectorStore.#opening = true;
    let store: ChromaVectorStore;
    try {
      store = new ChromaVectorStore(resolved);
    } finally {
      ChromaVectorStore.#opening = false;
    }
    try {
      await store.#serverLimits();
    } catch (error) {
      if (!(error instanceof BackendUnavailableError && store.#options.maxBatchSize !== undefined))
        throw error;
    }
    return store;
  }

  /**
   * Records per `upsert`/`delete`/`getVersions` request: `min(options.maxBatchSize, server max_batch_size)`.
   * Before the server limit is known (only possible with an override and an unreachable server) this is the
   * override.
   */
  get maxBatchSize(): number {
    const override = this.#options.maxBatchSize;
    const server = this.#serverMaxBatchSize;
    if (override === undefined) return server ?? 1;
    return server === undefined ? override : Math.min(override, server);
  }

  /** The server's own `max_batch_size`, once known (`undefined` before the first successful request). */
  get serverMaxBatchSize(): number | undefined {
    return this.#serverMaxBatchSize;
  }

  async #serverLimits(): Promise<number> {
    if (this.#serverMaxBatchSize === undefined) {
      try {
        const max = await this.#client.getMaxBatchSize();
        this.#base64 = await this.#client.supportsBase64Encoding();
        // -1 = the server did not say; fall back to the override or a conservative default.
        this.#serverMaxBatchSize = max > 0 ? max : (this.#options.maxBatchSize ?? 1000);
      } catch (error) {
        throw toDualwriteError(error, 'chroma pre-flight-checks');
      }
    }
    return this.maxBatchSize;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('chroma vector store', { component });
  }

  #getCollection(): Promise<Collection> {
    this.#collection ??= (async () => {
      let collection: Collection;
      try {
        collection = await this.#client.getOrCreateCollection({
          name: this.collectionName,
          embeddingFunction: null,
          configuration: { hnsw: { space: this.distance } },
        });
      } catch (error) {
        throw toDualwriteError(error, `chroma get-or-create collection "${this.collectionName}"`);
      }
      const config = collection.configuration as
        | { hnsw?: { space?: string | null } | null; spann?: { space?: string | null } | null }
        | undefined;
      const space = config?.hnsw?.space ?? config?.spann?.space ?? collection.metadata?.['hnsw:space'];
      const first = await this.#firstRow(collection);
      const stored = first?.embedding;
      const differs: [string, unknown, unknown][] = [];
      if (typeof space === 'string' && space !== this.distance)
        differs.push(['distance', space, this.distance]);
      if (stored !== undefined && stored.length !== this.dimension)
        differs.push(['dimension', stored.length, this.dimension]);
      if (differs.length > 0) {
        const [field, found, configured] = differs[0]!;
        // At open, a configuration error. Later — the collection was dropped and recreated behind this store's
        // back with another distance or dimension — the index is not the one the source is bound to: delivery
        // stops (no record is dead-lettered for it) and the periodic check reports it.
        if (this.#resolved === 0 && field === 'dimension')
          throw new DimensionMismatchError('options.dimension', found as number, configured as number, {
            component,
          });
        if (this.#resolved === 0)
          throw new ValidationError(
            `options.${field}`,
            `collection "${this.collectionName}" already exists with ${field} ${JSON.stringify(found)}, not ${JSON.stringify(configured)}`,
            { component },
          );
        const describe = (value: unknown) => ({ collection: this.collectionName, [field]: value });
        throw new IndexBindingError([field], describe(configured), describe(found), { component });
      }
      const owner = ownerOf(collection.metadata ?? null);
      const replaced = this.#collectionId !== undefined && collection.id !== this.#collectionId;
      // Replaced by a collection of another source of truth (another owner token than the one this store saw, even
      // empty) or holding another application's rows (without a dualwrite version), created by someone else under
      // the same name: never written, and never repaired, which would delete that application's documents as
      // orphans (a break-it round: 3 of 3 runs), or write this source's records and checkpoint into the other
      // source's collection, which its own check then repairs away (the next one). Delivery stops, as at start.
      // No owner token and rows with a version: another process of this source resolved the name first and wrote
      // its deliveries there.
      const foreignOwner = owner !== null && this.#owner !== null && owner !== this.#owner;
      if (replaced && (foreignOwner || (first !== undefined && first.version === undefined)))
        throw foreignOwner
          ? new IndexBindingError(['owner'], { owner: this.#owner ?? 'none' }, { owner }, { component })
          : new IndexBindingError(
              ['rows'],
              { rows: 'written by dualwrite' },
              {
                rows: `collection "${this.collectionName}" replaced by one holding rows dualwrite did not write`,
              },
              { component },
            );
      this.#owner = owner ?? this.#owner;
      if (replaced)
        this.#replaced ??= `the Chroma collection "${this.collectionName}" was deleted under this process and resolved again to another one (created empty when it was gone): the records delivered before are missing from it`;
      this.#collectionId = collection.id;
      this.#resolved++;
      return collection;
    })();
    const pending = this.#collection;
    pending.catch(() => {
      if (this.#collection === pending) this.#collection = undefined;
    });
    return pending;
  }

  /**
   * One stored row of `collection` — its embedding (the collection's dimension) and its dualwrite version
   * (`undefined` when it has none: another application's) — or `undefined` when it is empty.
   */
  async #firstRow(collection: Collection): Promise<{ embedding: number[]; version: unknown } | undefined> {
    try {
      const { embeddings, metadatas } = await collection.get({
        limit: 1,
        include: ['embeddings', 'metadatas'],
      });
      if (!embeddings?.length) return undefined;
      return {
        embedding: embeddings[0] as number[],
        version: metadatas?.[0]?.[CHROMA_VERSION_KEY] ?? undefined,
      };
    } catch (error) {
      throw toDualwriteError(error, `chroma peek collection "${this.collectionName}"`);
    }
  }

  /** Runs `fn` against the collection; re-resolves it once if the server says it no longer exists (404). */
  async #withCollection<T>(op: string, fn: (collection: Collection) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.#assertOpen();
      const collection = await this.#getCollection();
      try {
        return await fn(collection);
      } catch (error) {
        const mapped = toDualwriteError(error, `chroma ${op}`);
        const status = (mapped as { status?: number }).status;
        // 404: the collection was deleted; 412: it is being deleted. Resolve the name again, once.
        if (attempt === 0 && (status === 404 || status === 412)) {
          if (this.#collection) {
            const current = await this.#collection.catch(() => undefined);
            if (current === collection) this.#collection = undefined;
          }
          continue;
        }
        throw mapped;
      }
    }
  }

  #estimateBytes(id: string, document: string, metadata: ChromaRecordMetadata): number {
    const embeddingBytes = this.#base64 ? Math.ceil((this.dimension * 4) / 3) + 4 : this.dimension * 24;
    return (
      Buffer.byteLength(id, 'utf8') +
      Buffer.byteLength(JSON.stringify(document), 'utf8') +
      Buffer.byteLength(JSON.stringify(metadata), 'utf8') +
      embeddingBytes +
      32
    );
  }

  #checkIds(ids: readonly string[], field: string): string[] {
    if (!Array.isArray(ids))
      throw new ValidationError(field, `must be an array of ids, got ${typeof ids}`, { component });
    const unique = new Set<string>();
    for (let i = 0; i < ids.length; i++) unique.add(checkChromaId(ids[i], `${field}[${i}]`));
    return [...unique];
  }

  /**
   * Inserts or replaces records by id. Everything is validated before the first request; duplicate ids are
   * collapsed (the last occurrence wins); the rest is sent in chunks (see {@link maxBatchSize}).
   *
   * @throws {DimensionMismatchError} `records[i].embedding` has the wrong length (nothing sent).
   * @throws {ValidationError} bad id/text/version, NaN/±Infinity, or metadata that is not a flat map of
   *   string/finite number/boolean with valid keys (nothing sent).
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError} from the
   *   server (earlier chunks may have been applied).
   * @throws {ClosedError} after {@link close}.
   * @returns nothing: Chroma has no conditional write, so this store has no version fence (`ifNewer` is
   *   ignored); late deliveries are kept out by lease checks, and repaired by the outbox if one lands.
   */
  async upsert(records: readonly VectorRecord[]): Promise<undefined> {
    this.#assertOpen();
    if (!Array.isArray(records))
      throw new ValidationError('records', `must be an array, got ${typeof records}`, { component });
    const byId = new Map<string, PreparedRecord>();
    for (let i = 0; i < records.length; i++) {
      const field = `records[${i}]`;
      const record = records[i] as unknown;
      if (record === null || typeof record !== 'object' || Array.isArray(record))
        throw new ValidationError(field, 'must be an object', { component });
      const r = record as Partial<VectorRecord>;
      const id = checkChromaId(r.id, `${field}.id`);
      const embedding = checkChromaEmbedding(r.embedding, this.dimension, `${field}.embedding`);
      const document = checkChromaText(r.text, `${field}.text`);
      const metadata = toChromaMetadata(r.metadata, r.version, `${field}.metadata`);
      byId.delete(id); // keep the last occurrence's position too
      byId.set(id, { id, embedding, document, metadata, bytes: 0 });
    }
    if (byId.size === 0) return;
    const maxCount = await this.#serverLimits();
    const prepared = [...byId.values()];
    for (const p of prepared) p.bytes = this.#estimateBytes(p.id, p.document, p.metadata);
    const chunks = chunksBySize(prepared, maxCount, this.#options.maxRequestBytes, (p) => p.bytes);
    for (const chunk of chunks)
      await this.#withCollection('upsert', (collection) => this.#upsertChunk(collection, chunk));
  }

  /**
   * Chroma's upsert MERGES metadata: keys missing from the new metadata keep their old values. dualwrite
   * replaces the whole record, so keys the stored copy has and the new one lacks must be sent as `null`
   * (which removes them). The `chromadb` client drops `null` values, so that case goes straight to the
   * REST endpoint (same transport, headers and typed errors). One `get` per chunk finds the stale keys.
   * Caveat: a concurrent writer adding keys between that `get` and the upsert can leave them behind.
   */
  async #upsertChunk(collection: Collection, chunk: readonly PreparedRecord[]): Promise<void> {
    const existing = await collection.get({ ids: chunk.map((p) => p.id), include: ['metadatas'] });
    const byId = new Map(chunk.map((p) => [p.id, p]));
    const stale = new Map<string, string[]>();
    for (let i = 0; i < existing.ids.length; i++) {
      const next = byId.get(existing.ids[i]!);
      const keys = Object.keys(existing.metadatas[i] ?? {}).filter(
        (k) => next && !Object.hasOwn(next.metadata, k),
      );
      if (next && keys.length > 0) stale.set(next.id, keys);
    }
    if (stale.size === 0) {
      await collection.upsert({
        ids: chunk.map((p) => p.id),
        embeddings: chunk.map((p) => p.embedding),
        documents: chunk.map((p) => p.document),
        metadatas: chunk.map((p) => p.metadata),
      });
      return;
    }
    const { tenant, database, url, headers } = this.#options;
    const endpoint = `${url}/api/v2/tenants/${encodeURIComponent(tenant)}/databases/${encodeURIComponent(database)}/collections/${encodeURIComponent(collection.id)}/upsert`;
    const body = {
      ids: chunk.map((p) => p.id),
      embeddings: chunk.map((p) => (this.#base64 ? float32Base64(p.embedding) : p.embedding)),
      documents: chunk.map((p) => p.document),
      metadatas: chunk.map((p) => {
        const removed = stale.get(p.id);
        if (!removed) return p.metadata;
        const m: Record<string, MetadataValue | null> = { ...p.metadata };
        for (const k of removed) m[k] = null;
        return m;
      }),
    };
    const response = await this.#transport(
      new Request(endpoint, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    );
    await response.arrayBuffer();
  }

  /**
   * Deletes ids (unknown ids are ignored; duplicates collapsed). Ids are sent as a JSON list, never inside a
   * predicate, so any id string is safe.
   * @throws {ValidationError} for a non-string/empty id or one with NUL/lone surrogates (nothing sent).
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError}.
   * @throws {ClosedError} after {@link close}.
   */
  async delete(ids: readonly string[]): Promise<void> {
    this.#assertOpen();
    const unique = this.#checkIds(ids, 'ids');
    if (unique.length === 0) return;
    const maxCount = await this.#serverLimits();
    for (const chunk of chunksBySize(unique, maxCount, Number.POSITIVE_INFINITY, () => 0))
      await this.#withCollection('delete', (collection) => collection.delete({ ids: chunk }));
  }

  /**
   * Nearest neighbours, best first, at most `k` (fewer when the collection holds fewer matches).
   * `score` follows {@link ChromaDistance} (cosine: 1 − distance); `distance` is Chroma's raw distance.
   * The filter is an equality match on every key (`$eq`, several keys combined with `$and`; see
   * https://docs.trychroma.com/docs/querying-collections/metadata-filtering). Like any HNSW index the search
   * is approximate once the collection outgrows Chroma's brute-force buffer.
   *
   * @throws {DimensionMismatchError} when `embedding.length !== dimension`.
   * @throws {ValidationError} for NaN/±Infinity, `k` outside 1..1000, or an invalid filter key/value.
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError}.
   * @throws {ClosedError} after {@link close}.
   */
  async query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]> {
    this.#assertOpen();
    const vector = checkChromaEmbedding(embedding, this.dimension, 'embedding');
    const k = options?.k;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > CHROMA_MAX_QUERY_K)
      throw new ValidationError(
        'options.k',
        `must be an integer in 1..${CHROMA_MAX_QUERY_K}, got ${describeValue(k)}`,
        {
          component,
          limit: `integer 1..${CHROMA_MAX_QUERY_K}`,
        },
      );
    const where = toChromaWhere(options.filter, 'options.filter');
    const result = await this.#withCollection('query', (collection) =>
      collection.query({
        queryEmbeddings: [vector],
        nResults: k,
        ...(where ? { where } : {}),
        include: ['metadatas', 'documents', 'distances'],
      }),
    );
    const ids = result.ids[0] ?? [];
    const distances = result.distances[0] ?? [];
    const documents = result.documents[0] ?? [];
    const metadatas = result.metadatas[0] ?? [];
    const hits: VectorHit[] = [];
    for (let i = 0; i < ids.length; i++) {
      const distance = distances[i] ?? Number.NaN;
      const { metadata, version } = fromChromaMetadata(metadatas[i] as Record<string, unknown> | null);
      hits.push({
        id: ids[i]!,
        score: chromaScore(distance, this.distance),
        distance,
        version,
        text: documents[i] ?? '',
        metadata,
      });
    }
    return hits;
  }

  /**
   * Stored versions of `ids` (absent ids are missing from the map; records written by other tools without
   * `_dw_version` read as version 0). Requests are chunked at {@link maxBatchSize}.
   * @throws {ValidationError} for an invalid id.
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError}.
   * @throws {ClosedError} after {@link close}.
   */
  async getVersions(ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await this.#getRows(ids, ['metadatas'], (result, i) =>
      out.set(
        result.ids[i]!,
        fromChromaMetadata(result.metadatas[i] as Record<string, unknown> | null).version,
      ),
    );
    return out;
  }

  /**
   * What the collection holds for `ids` — version, document, metadata (dualwrite's reserved keys removed) and
   * embedding — for content checks. Ids not in the collection are absent. Requests of the server's batch size.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   */
  async getRecords(ids: readonly string[]): Promise<Map<string, VectorRecord>> {
    const out = new Map<string, VectorRecord>();
    await this.#getRows(ids, ['metadatas', 'documents', 'embeddings'], (result, i) => {
      const id = result.ids[i]!;
      const { metadata, version } = fromChromaMetadata(result.metadatas[i] as Record<string, unknown> | null);
      // The server's float32 values, as the JSON or base64 decoding gave them: rounded back to float32.
      const embedding = Array.from(result.embeddings[i] ?? [], (x) => Math.fround(x));
      out.set(id, { id, version, metadata, text: result.documents[i] ?? '', embedding });
    });
    return out;
  }

  /** `collection.get` of `ids` (valid ones, once each) in requests of the server's batch size; `each` per row. */
  async #getRows(
    ids: readonly string[],
    include: ('metadatas' | 'documents' | 'embeddings')[],
    each: (result: GetResult, index: number) => void,
  ): Promise<void> {
    this.#assertOpen();
    const unique = this.#checkIds(ids, 'ids');
    if (unique.length === 0) return;
    const maxCount = await this.#serverLimits();
    for (const chunk of chunksBySize(unique, maxCount, Number.POSITIVE_INFINITY, () => 0)) {
      const result = await this.#withCollection('get', (collection) =>
        collection.get({ ids: chunk, include }),
      );
      for (let i = 0; i < result.ids.length; i++) each(result, i);
    }
  }

  /**
   * The rows with `range.above < version <= range.atMost` (see `VectorStore.versionsInRange`): one `get` filtered
   * on the version key (`$gt` / `$lte`), ids and metadata only.
   * @throws {ValidationError} for a bound that is not a safe integer or a `limit` outside 1..10,000.
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError}.
   */
  async versionsInRange(range: VersionRange): Promise<VersionedId[]> {
    this.#assertOpen();
    checkVersionRange(range, component);
    const above = { [CHROMA_VERSION_KEY]: { $gt: range.above } };
    const where =
      range.atMost === undefined
        ? above
        : { $and: [above, { [CHROMA_VERSION_KEY]: { $lte: range.atMost } }] };
    const result = await this.#withCollection('get', (collection) =>
      collection.get({ where, limit: range.limit, include: ['metadatas'] }),
    );
    return result.ids.map((id, i) => ({
      id,
      version: fromChromaMetadata(result.metadatas[i] as Record<string, unknown> | null).version,
    }));
  }

  /**
   * Pages through all ids with their versions using Chroma's `limit`/`offset` (`get` order: insertion order
   * of the internal record offsets, stable while nothing is written). The cursor is the decimal offset of the
   * next page. Caveat: offsets shift when records are deleted (a later page may skip ids) or added (ids may
   * repeat) during the scan; reconciliation tolerates this and converges on the next run.
   *
   * @param options.limit - page size, 1..10,000.
   * @param options.cursor - `nextCursor` of the previous page, or `undefined` for the first page.
   * @throws {ValidationError} for a bad `limit` or a cursor not produced by this method.
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError}.
   * @throws {ClosedError} after {@link close}.
   */
  async listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage> {
    this.#assertOpen();
    const limit = options?.limit;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > CHROMA_MAX_LIST_LIMIT)
      throw new ValidationError(
        'options.limit',
        `must be an integer in 1..${CHROMA_MAX_LIST_LIMIT}, got ${describeValue(limit)}`,
        {
          component,
          limit: `integer 1..${CHROMA_MAX_LIST_LIMIT}`,
        },
      );
    const cursor = options.cursor;
    if (cursor !== undefined && (typeof cursor !== 'string' || !/^(0|[1-9]\d{0,15})$/.test(cursor)))
      throw new ValidationError(
        'options.cursor',
        `is not a cursor returned by listIds: ${JSON.stringify(cursor)}`,
        {
          component,
        },
      );
    const offset = cursor === undefined ? 0 : Number(cursor);
    // Ask for one extra row to know whether another page exists without an empty round trip.
    const result = await this.#withCollection('get', (collection) =>
      collection.get({ limit: limit + 1, offset, include: ['metadatas'] }),
    );
    const items: { id: string; version: number }[] = [];
    const n = Math.min(limit, result.ids.length);
    for (let i = 0; i < n; i++)
      items.push({
        id: result.ids[i]!,
        version: fromChromaMetadata(result.metadatas[i] as Record<string, unknown> | null).version,
      });
    return { items, nextCursor: result.ids.length > limit ? String(offset + limit) : undefined };
  }

  /**
   * Why the index is in question since the last call: the collection was deleted under this store, which then
   * resolved its name to another collection (creating it empty when it was gone, as every call does) — or
   * `undefined`. Answered once; the facade asks after every write and repairs the index at once, so a flush
   * does not resolve over an index that lost every record delivered before (found by a break-it round: it
   * resolved in about 20 ms with the old records missing, until the periodic check).
   */
  takeRewind(): string | undefined {
    const replaced = this.#replaced;
    this.#replaced = undefined;
    return replaced;
  }

  /**
   * The collection this store writes: `{ backend: 'chroma', location: <url>/<tenant>/<database>,
   * collection: <name>, instanceId: <the collection's UUID>, dimension }`. Resolves the collection (and
   * creates it when it is missing, as every call does), so after the collection was deleted and recreated
   * the new UUID shows.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   */
  async identity(): Promise<VectorIndexIdentity> {
    const collection = await this.#withCollection('identity', async (c) => c);
    const { tenant, database } = this.#options;
    const metadata = await this.#freshMetadata('identity');
    this.#owner = ownerOf(metadata) ?? this.#owner;
    return {
      backend: this.name,
      location: `${this.url.replace(/\/+$/, '')}/${tenant}/${database}`,
      collection: this.collectionName,
      instanceId: collection.id,
      dimension: this.dimension,
      owner: ownerOf(metadata),
      checkpoint: checkpointOf(metadata),
    };
  }

  /**
   * Stamps the source of truth's owner token on the collection (its metadata key
   * {@link CHROMA_OWNER_METADATA_KEY}, the other keys kept), so `identity().owner` reports it to every process.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   */
  async claimIndex(owner: string): Promise<void> {
    const kept = writableMetadata(await this.#freshMetadata('claimIndex'));
    await this.#withCollection('claimIndex', (collection) =>
      collection.modify({ metadata: { ...kept, [CHROMA_OWNER_METADATA_KEY]: owner } }),
    );
    this.#owner = owner;
  }

  /**
   * Raises the index checkpoint on the collection (metadata key {@link CHROMA_CHECKPOINT_METADATA_KEY}, the
   * other keys kept) to `checkpoint`; a stamp at or below the one held changes nothing. A read, then a write of
   * the whole metadata: a stamp racing another process's can leave the lower one (core's index check reads each
   * stamp back and repeats it while lower).
   * @throws {ValidationError} when `checkpoint` is not a positive safe integer.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   */
  async stampCheckpoint(checkpoint: number): Promise<void> {
    if (!Number.isSafeInteger(checkpoint) || checkpoint < 1)
      throw new ValidationError(
        'checkpoint',
        `must be a positive safe integer, got ${describeValue(checkpoint)}`,
        {
          component,
          limit: '1..2^53 - 1',
        },
      );
    const current = await this.#freshMetadata('stampCheckpoint');
    if ((checkpointOf(current) ?? 0) >= checkpoint) return;
    await this.#withCollection('stampCheckpoint', (collection) =>
      collection.modify({
        metadata: { ...writableMetadata(current), [CHROMA_CHECKPOINT_METADATA_KEY]: checkpoint },
      }),
    );
  }

  /** The collection's metadata as the server holds it now (another process may have changed it). */
  async #freshMetadata(op: string): Promise<Record<string, unknown> | null> {
    const collection = await this.#withCollection(op, (c) =>
      this.#client.getCollection({ name: c.name, embeddingFunction: null } as never),
    );
    return (collection.metadata as Record<string, unknown> | null | undefined) ?? null;
  }

  /**
   * Why Chroma cannot store metadata key `key` faithfully: `#`/`$` prefixes are reserved by the server
   * (HTTP 400), and `__proto__` is dropped by Chroma's JavaScript client on the way back. `undefined`
   * when it can.
   */
  metadataKeyProblem(key: string): string | undefined {
    return chromaKeyProblem(key);
  }

  /**
   * Why the index would keep `embedding` but rank it wrongly, or `undefined`: under cosine distance a vector
   * without a direction ({@link lacksDirection}: a norm below about 1.08e-19, whose float32 squares are zero or
   * keep only a few bits, e.g. all zeros, `1e-30`, or `[1, 0.1, …] × 1e-22`) cannot be normalized — Chroma stores it, scores it above real matches (a cosine score over 1, seen
   * 1.6) and reads back other values than were written, so every reconcile found it mismatched and re-delivered
   * it. The facade refuses such a vector at the call (a put's or a search's), as on LanceDB.
   */
  embeddingProblem(embedding: readonly number[]): string | undefined {
    return this.distance === 'cosine' && lacksDirection(embedding)
      ? "has no direction (its norm is below about 1.08e-19, too small for float32): under cosine distance Chroma would rank it above real matches and never read it back as written (use distance 'l2' or 'ip' if zero vectors mean something to you)"
      : undefined;
  }

  /**
   * Why no request can carry `record`: its estimated JSON body (id, text and metadata as JSON, the embedding as
   * this store sends it) is above `maxPayloadBytes`, the server's payload limit (HTTP 413 above it) — or
   * `undefined`. A text shorter than a sixth of the limit (JSON escapes at most six bytes per UTF-16 unit) is
   * passed without encoding it.
   */
  recordSizeProblem(record: { id: string; text: string; metadata: Metadata }): string | undefined {
    const max = this.#options.maxPayloadBytes;
    const metadataBytes = Buffer.byteLength(JSON.stringify(record.metadata ?? {}), 'utf8');
    if ((record.text.length + record.id.length) * 6 + metadataBytes + this.dimension * 24 + 64 < max)
      return undefined;
    const bytes = this.#estimateBytes(record.id, record.text, record.metadata as ChromaRecordMetadata) + 32;
    return bytes > max
      ? `needs a request of about ${bytes} bytes, above the ${max} the Chroma server accepts (its max_payload_size_bytes, option maxPayloadBytes): keep texts smaller, or raise both`
      : undefined;
  }

  /**
   * Number of records in the collection.
   * @throws {BackendUnavailableError} / {@link TransientBackendError} / {@link PermanentBackendError}.
   * @throws {ClosedError} after {@link close}.
   */
  async count(): Promise<number> {
    return this.#withCollection('count', (collection) => collection.count());
  }

  /**
   * `GET /api/v2/heartbeat`.
   * @throws {BackendUnavailableError} when the server cannot be reached.
   * @throws {TransientBackendError} on timeout or 5xx.
   * @throws {ClosedError} after {@link close}.
   */
  async ping(): Promise<void> {
    this.#assertOpen();
    try {
      await this.#client.heartbeat();
    } catch (error) {
      throw toDualwriteError(error, 'chroma heartbeat');
    }
  }

  /**
   * Marks the store closed and cancels requests still in flight (they fail with {@link ClosedError}; a write
   * cancelled mid-flight may or may not have reached the server — the outbox still holds it). Idempotent; later
   * calls throw {@link ClosedError}.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
  }
}
