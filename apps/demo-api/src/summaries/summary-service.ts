import {
  BackendUnavailableError,
  DeadLetteredError,
  DimensionMismatchError,
  type DualWrite,
  type MetadataFilter,
  PermanentBackendError,
  type SyncStatus,
  TimeoutError,
  TransientBackendError,
  type UnitOfWork,
  ValidationError,
} from '@dualwrite/core';
import { ApiError } from '../http/api-error.js';
import type {
  ListQuery,
  SearchBody,
  SearchHit,
  Summary,
  SummaryInput,
  WriteOutcome,
} from '../http/schemas.js';
import { FQN_PATTERN } from '../http/schemas.js';
import { SummaryRepository } from './repository.js';
import {
  inStorage,
  type StoreKysely,
  type SummaryLevel,
  type SummaryRow,
  type SummaryStorage,
} from './table.js';

/** What {@link SummaryService} needs. */
export interface SummaryServiceOptions {
  /** The dualwrite facade (its relational store's native handle is a Kysely instance). */
  dw: DualWrite<StoreKysely>;
  /** Kysely for reads outside store transactions (e.g. `SqliteRelationalStore.kysely`). */
  reader: () => StoreKysely;
  /** Where the `summaries` table lives (SQLite file, or the PostgreSQL schema). */
  storage: SummaryStorage;
  /** Embedding dimension of the index. */
  dimension: number;
}

/** Core's record field names → the API's. */
const FIELD_NAMES: Record<string, string> = {
  id: 'targetFqn',
  text: 'summary',
  embedding: 'embedding',
  metadata: 'level',
};

function toSummary(row: SummaryRow, embedding?: number[] | null): Summary {
  const out: Summary = {
    targetFqn: row.target_fqn,
    summary: row.summary,
    level: row.level,
    stale: row.stale === 1,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (embedding) out.embedding = embedding;
  return out;
}

/** Opaque keyset cursor for `GET /summaries`. */
export function encodeCursor(fqn: string): string {
  return Buffer.from(fqn, 'utf8').toString('base64url');
}

/** @throws {ApiError} 400 naming `cursor` when it is not one of ours. */
export function decodeCursor(cursor: string): string {
  const fqn = Buffer.from(cursor, 'base64url').toString('utf8');
  if (fqn === '' || encodeCursor(fqn) !== cursor || !new RegExp(FQN_PATTERN, 'u').test(fqn))
    throw ApiError.invalid('cursor', 'is not a cursor returned by this API');
  return fqn;
}

/**
 * The summaries use cases over one {@link DualWrite}: each write runs in one store transaction that
 * updates the `summaries` row and the dualwrite record (+ outbox entry) together, so the table, the record
 * and the vector index can never disagree for long; reads come from SQL; search reads the index and answers
 * from SQL (no ghosts).
 */
export class SummaryService {
  readonly #dw: DualWrite<StoreKysely>;
  readonly #reader: () => StoreKysely;
  readonly #storage: SummaryStorage;
  readonly #dimension: number;

  constructor(options: SummaryServiceOptions) {
    this.#dw = options.dw;
    this.#reader = options.reader;
    this.#storage = options.storage;
    this.#dimension = options.dimension;
  }

  /** `db` (the reader, or a transaction's `uow.db`) aimed at the service's tables. */
  #tables(db: StoreKysely): StoreKysely {
    return inStorage(db, this.#storage);
  }

  /** The reader, aimed at the service's tables. */
  #read(): StoreKysely {
    return this.#tables(this.#reader());
  }

  /** `true` when the strategy confirms each write in the index before answering. */
  get synchronous(): boolean {
    return this.#dw.strategyName === 'sync-2pc';
  }

  /**
   * Creates or replaces summaries in one transaction (all or none).
   * @param fieldPrefix - how to address input `i` in errors, e.g. `summaries[3].` or `` (single).
   * @throws {ApiError} 400 naming the field; 503 (sync-2pc) when the index is unreachable or too slow.
   */
  async write(inputs: readonly SummaryInput[], fieldPrefix: (i: number) => string): Promise<WriteOutcome[]> {
    return (await this.#write(inputs, fieldPrefix)).outcomes;
  }

  /**
   * Creates or replaces one summary; answers with the summary as that transaction wrote it (a read after the
   * commit could see a concurrent write or delete of the fqn instead: on PostgreSQL 404s and other requests'
   * summaries in a break-it round).
   * @throws {ApiError} as {@link write}.
   */
  async put(input: SummaryInput): Promise<{ outcome: WriteOutcome; summary: Summary }> {
    const { outcomes, rows } = await this.#write([input], () => '');
    return { outcome: outcomes[0]!, summary: toSummary(rows[0]!) };
  }

  async #write(
    inputs: readonly SummaryInput[],
    fieldPrefix: (i: number) => string,
  ): Promise<{ outcomes: WriteOutcome[]; rows: SummaryRow[] }> {
    const seen = new Map<string, number>();
    inputs.forEach((input, i) => {
      const first = seen.get(input.targetFqn);
      if (first !== undefined)
        throw ApiError.invalid(`${fieldPrefix(i)}targetFqn`, `duplicates ${fieldPrefix(first)}targetFqn`);
      seen.set(input.targetFqn, i);
      if (input.embedding && input.embedding.length !== this.#dimension)
        throw new DimensionMismatchError(
          `${fieldPrefix(i)}embedding`,
          this.#dimension,
          input.embedding.length,
          {
            component: 'demo-api',
          },
        );
    });
    this.#refuseWhileIndexDown();

    const now = Date.now();
    const outcomes: WriteOutcome[] = [];
    const rows: SummaryRow[] = [];
    await this.#transact(
      inputs.map((s) => s.targetFqn),
      async (uow) => {
        const db = this.#tables(uow.db);
        // Records first, in fqn order: each put takes the record's write lock (on PostgreSQL an advisory
        // lock held to COMMIT). The fixed order keeps two concurrent batches sharing fqns from deadlocking
        // (PostgreSQL would abort one with 40P01), and the rows read next, once every lock is held, are the
        // latest committed ones (under READ COMMITTED a read before the locks could miss a concurrent creation).
        const results = new Array<Awaited<ReturnType<typeof uow.put>>>(inputs.length);
        const lockOrder = [...inputs.keys()].sort((a, b) =>
          compareFqns(inputs[a]!.targetFqn, inputs[b]!.targetFqn),
        );
        for (const i of lockOrder) {
          const input = inputs[i]!;
          try {
            results[i] = await uow.put({
              id: input.targetFqn,
              text: input.summary,
              embedding: input.embedding,
              metadata: { level: input.level, stale: input.stale ?? false },
            });
          } catch (error) {
            throw readdress(error, fieldPrefix(i));
          }
        }
        const existing = await SummaryRepository.getMany(
          db,
          inputs.map((s) => s.targetFqn),
        );
        for (const [i, input] of inputs.entries()) {
          const result = results[i]!;
          const prev = existing.get(input.targetFqn);
          const row: SummaryRow = {
            target_fqn: input.targetFqn,
            summary: input.summary,
            level: input.level,
            stale: (input.stale ?? false) ? 1 : 0,
            version: result.version ?? prev?.version ?? 0,
            created_at: prev?.created_at ?? now,
            updated_at: result.changed || !prev ? now : prev.updated_at,
          };
          if (result.changed || !prev || prev.version !== row.version)
            await SummaryRepository.upsert(db, row);
          rows.push(row);
          outcomes.push({
            targetFqn: input.targetFqn,
            version: row.version,
            created: !prev,
            changed: result.changed,
            sync: 'pending',
          });
        }
      },
    );
    await this.#fillSyncStates(outcomes);
    return { outcomes, rows };
  }

  /**
   * Deletes a summary and its record (a tombstone until the index applied it).
   * @throws {ApiError} 404 when there is no such summary.
   */
  async delete(fqn: string): Promise<WriteOutcome> {
    this.#refuseWhileIndexDown();
    const outcome = await this.#transact([fqn], async (uow) => {
      // The record first (it takes the record's write lock), then the row: the same lock order as writes,
      // so a concurrent PUT and DELETE of one fqn on PostgreSQL wait for each other instead of deadlocking.
      const result = await uow.delete(fqn);
      const existed = await SummaryRepository.delete(this.#tables(uow.db), fqn);
      if (!existed && !result.changed) throw ApiError.notFound(`no summary for ${fqn}`);
      return {
        targetFqn: fqn,
        version: result.version,
        created: false,
        changed: true,
        sync: 'pending' as const,
      };
    });
    await this.#fillSyncStates([outcome]);
    return outcome;
  }

  /** The summary, optionally with its stored embedding. @throws {ApiError} 404. */
  async get(fqn: string, options: { embedding?: boolean } = {}): Promise<Summary> {
    const row = await SummaryRepository.get(this.#read(), fqn);
    if (!row) throw ApiError.notFound(`no summary for ${fqn}`);
    const embedding = options.embedding ? ((await this.#dw.get(fqn))?.embedding ?? null) : null;
    return toSummary(row, embedding);
  }

  /** A page of summaries ordered by fqn, with the cursor of the next page (or `null`). */
  async list(query: ListQuery): Promise<{ items: Summary[]; nextCursor: string | null }> {
    const limit = query.limit ?? 50;
    const rows = await SummaryRepository.list(this.#read(), {
      level: query.level,
      stale: query.stale,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => toSummary(r)),
      nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!.target_fqn) : null,
    };
  }

  /** Resolves when the relational store answers a trivial query (readiness). */
  ping(): Promise<void> {
    return SummaryRepository.ping(this.#read());
  }

  /** Number of summaries. */
  count(): Promise<number> {
    return SummaryRepository.count(this.#read());
  }

  /**
   * Nearest summaries to a text (embedded with the configured embedder) or an embedding. Deleted records
   * and hits whose indexed version is not the current one are never returned.
   * @throws {ApiError} 400 unless exactly one of `text` and `embedding` is given.
   */
  async search(body: SearchBody): Promise<SearchHit[]> {
    if (body.text !== undefined && body.embedding !== undefined)
      throw ApiError.invalid('embedding', 'give either text or embedding, not both');
    if (body.text === undefined && body.embedding === undefined)
      throw ApiError.invalid('text', 'give text or embedding');
    if (body.embedding && body.embedding.length !== this.#dimension)
      throw new DimensionMismatchError('embedding', this.#dimension, body.embedding.length, {
        component: 'demo-api',
      });
    const filter: MetadataFilter = {};
    if (body.filter?.level !== undefined) filter.level = body.filter.level;
    if (body.filter?.stale !== undefined) filter.stale = body.filter.stale;
    const hits = await this.#dw
      .search(body.text ?? body.embedding!, {
        k: body.k ?? 10,
        filter: Object.keys(filter).length > 0 ? filter : undefined,
        staleHits: 'drop',
      })
      .catch((error: unknown) => {
        // The request's own embedding was checked above: a wrong length now is the embedder's answer for the
        // text — a fault of the service's backend (502), not of the request (it answered 400 naming a field of
        // the embedder's response).
        if (body.text !== undefined && error instanceof DimensionMismatchError)
          throw new PermanentBackendError(
            `the embedder answered the query with a vector of the wrong length (${error.message})`,
            {
              component: 'demo-api',
              cause: error,
            },
          );
        throw error;
      });
    const rows = await SummaryRepository.getMany(
      this.#read(),
      hits.map((h) => h.id),
    );
    // A hit whose summary was deleted since the index answered is dropped, as the facade drops deleted records.
    return hits.flatMap((hit) => {
      const row = rows.get(hit.id);
      if (row === undefined) return [];
      return {
        targetFqn: hit.id,
        summary: hit.text,
        level: (hit.metadata.level as SummaryLevel) ?? row.level,
        stale: hit.metadata.stale === true,
        score: hit.score,
        distance: hit.distance,
        version: hit.version,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      };
    });
  }

  /** sync-2pc answers 503 at once while the index is known to be down (nothing is written). */
  #refuseWhileIndexDown(): void {
    if (this.synchronous && this.#dw.strategy.stats().backendDown)
      throw new BackendUnavailableError(
        `vector index ${this.#dw.vector.name} is unreachable; sync-2pc accepts writes again once it answers`,
        { component: 'demo-api', retryAfterMs: 1_000 },
      );
  }

  /**
   * Runs a unit of work. With sync-2pc the transaction resolves once the index holds the changes; when that
   * takes longer than the strategy's timeout, the write is committed but unconfirmed: answer 503 so the
   * client retries (the same PUT/POST/DELETE is idempotent). A change the index refused (dead-lettered) is
   * committed too: the call answers with the committed outcome, whose sync state says `dead-lettered`.
   */
  async #transact<T>(ids: readonly string[], fn: (uow: UnitOfWork<StoreKysely>) => Promise<T>): Promise<T> {
    try {
      return await this.#dw.transaction(fn);
    } catch (error) {
      if (error instanceof DeadLetteredError) return error.result as T;
      if (!(error instanceof TimeoutError) || !this.synchronous) throw error;
      const status = await this.#dw.syncStatus(ids[0]!).catch(() => undefined);
      const last =
        status?.state === 'pending' && status.lastError ? ` (last error: ${status.lastError})` : '';
      const message =
        `committed to the source of truth but not yet visible in the vector index after ${error.timeoutMs} ms${last}; ` +
        'it stays in the outbox and is delivered when the index recovers; retrying the same request is safe';
      const options = { component: 'demo-api', retryAfterMs: 1_000, cause: error };
      throw this.#dw.strategy.stats().backendDown
        ? new BackendUnavailableError(message, options)
        : new TransientBackendError(message, options);
    }
  }

  async #fillSyncStates(outcomes: WriteOutcome[]): Promise<void> {
    for (const outcome of outcomes) {
      const status: SyncStatus = await this.#dw.syncStatus(outcome.targetFqn);
      outcome.sync = status.state;
      if (status.state === 'dead-lettered') outcome.syncError = status.error;
      else if (status.state === 'pending' && status.lastError) outcome.syncError = status.lastError;
    }
  }
}

/** Total order of fqns (UTF-16 code units): the order a batch takes its records' locks in. */
function compareFqns(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A core validation error about `record.<field>` re-addressed to the API's field names. */
function readdress(error: unknown, prefix: string): unknown {
  if (!(error instanceof ValidationError) || !error.field.startsWith('record')) return error;
  const rest = error.field.replace(/^record\.?/, '');
  const head = rest.split(/[.[]/)[0] ?? '';
  const field = `${prefix}${FIELD_NAMES[head] ?? rest}`;
  return new ApiError(400, error.code, error.message.replace(error.field, field), {
    field,
    limit: error.limit,
    cause: error,
  });
}
