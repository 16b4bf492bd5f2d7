/**
 * The in-memory reference {@link VectorStore}: the contract's executable model (exact cosine search over a
 * `Map`, one row per id, an atomic version fence). Core runs the contract suites and the strategies
 * against it; it is not a backend (nothing survives the process).
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import type {
  DeleteOptions,
  UpsertOptions,
  UpsertReport,
  VectorHit,
  VectorIdPage,
  VectorIndexIdentity,
  VectorQueryOptions,
  VectorStore,
  VersionedId,
  VersionRange,
} from '../contracts/vector-store.js';
import { ClosedError, ValidationError } from '../errors.js';
import { toFloat32Precision } from '../record/embedding-codec.js';
import type { Metadata, VectorRecord } from '../record/types.js';
import { validateEmbedding } from '../record/validate.js';
import { checkVersionRange } from '../record/version-range.js';

interface Row {
  embedding: number[];
  /** Euclidean norm of `embedding`. */
  norm: number;
  text: string;
  metadata: Metadata;
  version: number;
}

const norm = (v: readonly number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** A copy of a {@link MemoryVectorData}'s rows and checkpoint (see {@link MemoryVectorData.snapshot}). */
export interface MemoryVectorSnapshot {
  readonly rows: ReadonlyMap<string, object>;
  readonly checkpoint: number | null;
}

/**
 * What a {@link MemoryVectorStore} holds. Pass one to several stores (or to a store opened after another
 * was closed) to model processes sharing one index.
 */
export class MemoryVectorData {
  /** @internal */ readonly rows = new Map<string, Row>();
  /** @internal */ readonly instanceId = randomUUID();
  /** @internal */ owner: string | null = null;
  /** @internal */ checkpoint: number | null = null;

  /**
   * A copy of what the index holds now (its rows and checkpoint), for {@link restore}: a backup of the index.
   */
  snapshot(): MemoryVectorSnapshot {
    return { rows: new Map(this.rows), checkpoint: this.checkpoint };
  }

  /** Puts back what {@link snapshot} copied — an older copy of the index restored under the same name. */
  restore(copy: MemoryVectorSnapshot): void {
    this.rows.clear();
    for (const [id, row] of copy.rows) this.rows.set(id, row as Row);
    this.checkpoint = copy.checkpoint;
  }
}

/** The in-memory reference store (see the module doc). `name` is `'memory'`; cosine similarity. */
export class MemoryVectorStore implements VectorStore {
  readonly name = 'memory';
  readonly maxBatchSize = 1_000;
  readonly versionFence = true;
  readonly dimension: number;
  readonly #rows: Map<string, Row>;
  readonly #data: MemoryVectorData;
  readonly #instanceId: string;
  #closed = false;

  /**
   * @param options.data - the index to open (default: new, empty).
   * @throws {ValidationError} when `dimension` is not an integer in 1..65,536.
   */
  constructor(options: { dimension: number; data?: MemoryVectorData }) {
    const data = options.data ?? new MemoryVectorData();
    this.#data = data;
    this.#rows = data.rows;
    this.#instanceId = data.instanceId;
    if (!Number.isInteger(options.dimension) || options.dimension < 1 || options.dimension > 65_536)
      throw new ValidationError('dimension', `must be an integer in 1..65536, got ${options.dimension}`);
    this.dimension = options.dimension;
  }

  async upsert(
    records: readonly VectorRecord[],
    options: UpsertOptions = {},
  ): Promise<UpsertReport | undefined> {
    this.#open('upsert');
    // Validate the whole batch first: a bad record writes nothing.
    const rows = records.map((r, i) => {
      const embedding = toFloat32Precision(
        validateEmbedding(r.embedding, this.dimension, `records[${i}].embedding`),
      );
      return [
        r.id,
        {
          embedding,
          norm: norm(embedding),
          text: r.text,
          metadata: structuredClone(r.metadata),
          version: r.version,
        },
      ] as const;
    });
    const fenced: string[] = [];
    for (const [id, row] of rows) {
      const held = this.#rows.get(id);
      if (options.ifNewer && held !== undefined && held.version > row.version) fenced.push(id);
      else this.#rows.set(id, row);
    }
    return options.ifNewer ? { fenced } : undefined;
  }

  async delete(ids: readonly string[], options: DeleteOptions = {}): Promise<void> {
    this.#open('delete');
    for (const id of ids) {
      const atMost = options.atMost?.get(id);
      if (atMost !== undefined && (this.#rows.get(id)?.version ?? 0) > atMost) continue;
      this.#rows.delete(id);
    }
  }

  async query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]> {
    this.#open('query');
    const q = validateEmbedding(embedding, this.dimension, 'embedding');
    if (!Number.isInteger(options.k) || options.k < 1 || options.k > 1_000)
      throw new ValidationError('k', `must be an integer in 1..1000, got ${options.k}`);
    const qNorm = norm(q);
    const hits: VectorHit[] = [];
    for (const [id, row] of this.#rows) {
      if (
        options.filter &&
        !Object.entries(options.filter).every(
          ([k, v]) => Object.hasOwn(row.metadata, k) && row.metadata[k] === v,
        )
      )
        continue;
      const dot = row.embedding.reduce((s, x, i) => s + x * q[i]!, 0);
      const score = qNorm === 0 || row.norm === 0 ? 0 : dot / (qNorm * row.norm);
      hits.push({
        id,
        score,
        distance: 1 - score,
        version: row.version,
        text: row.text,
        metadata: structuredClone(row.metadata),
      });
    }
    return hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, options.k);
  }

  async getVersions(ids: readonly string[]): Promise<Map<string, number>> {
    this.#open('getVersions');
    const out = new Map<string, number>();
    for (const id of ids) {
      const row = this.#rows.get(id);
      if (row) out.set(id, row.version);
    }
    return out;
  }

  async getRecords(ids: readonly string[]): Promise<Map<string, VectorRecord>> {
    this.#open('getRecords');
    const out = new Map<string, VectorRecord>();
    for (const id of ids) {
      const row = this.#rows.get(id);
      if (row)
        out.set(id, {
          id,
          version: row.version,
          text: row.text,
          metadata: structuredClone(row.metadata),
          embedding: [...row.embedding],
        });
    }
    return out;
  }

  async listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage> {
    this.#open('listIds');
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > 10_000)
      throw new ValidationError('limit', `must be an integer in 1..10000, got ${options.limit}`);
    const ids = [...this.#rows.keys()]
      .filter((id) => options.cursor === undefined || id > options.cursor)
      .sort();
    const page = ids.slice(0, options.limit);
    return {
      items: page.map((id) => ({ id, version: this.#rows.get(id)!.version })),
      nextCursor: ids.length > options.limit ? page.at(-1) : undefined,
    };
  }

  async count(): Promise<number> {
    this.#open('count');
    return this.#rows.size;
  }

  async identity(): Promise<VectorIndexIdentity> {
    this.#open('identity');
    return {
      backend: this.name,
      location: 'memory:',
      collection: 'memory',
      instanceId: this.#instanceId,
      dimension: this.dimension,
      owner: this.#data.owner,
      checkpoint: this.#data.checkpoint,
    };
  }

  async claimIndex(owner: string): Promise<void> {
    this.#open('claimIndex');
    this.#data.owner = owner;
  }

  async stampCheckpoint(checkpoint: number): Promise<void> {
    this.#open('stampCheckpoint');
    if (!Number.isSafeInteger(checkpoint) || checkpoint < 1)
      throw new ValidationError('checkpoint', `must be a positive safe integer, got ${checkpoint}`, {
        limit: '1..2^53 - 1',
      });
    this.#data.checkpoint = Math.max(this.#data.checkpoint ?? 0, checkpoint);
  }

  async maxVersion(): Promise<number | null> {
    this.#open('maxVersion');
    let max: number | null = null;
    for (const row of this.#rows.values()) if (max === null || row.version > max) max = row.version;
    return max;
  }

  async versionsInRange(range: VersionRange): Promise<VersionedId[]> {
    this.#open('versionsInRange');
    checkVersionRange(range, 'memory');
    const out: VersionedId[] = [];
    for (const [id, row] of this.#rows) {
      if (out.length === range.limit) break;
      if (row.version > range.above && (range.atMost === undefined || row.version <= range.atMost))
        out.push({ id, version: row.version });
    }
    return out;
  }

  async ping(): Promise<void> {
    this.#open('ping');
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(operation: string): void {
    if (this.#closed) throw new ClosedError(`memory vector store (${operation})`, { component: 'memory' });
  }
}
