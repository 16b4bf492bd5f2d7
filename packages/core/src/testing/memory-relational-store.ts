/**
 * The in-memory reference {@link RelationalStore}: the contract's executable model. Transactions are
 * serialised by one mutex and run on a copy of the state that replaces it on commit, so rollback and
 * isolation are exact. The outbox decisions come from the ledger (`outbox/outbox-ledger.ts`), as in every
 * store. Core runs the contract suites and the strategies against it; it is not a backend (nothing
 * survives the process). As with every store, calling its methods from inside its own `transaction`
 * callback is not allowed (here it would wait for the transaction it runs in).
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import type {
  AckOutcome,
  ClaimOptions,
  OutboxAck,
  OutboxEntry,
  OutboxFailure,
  OutboxLease,
  OutboxOp,
  OutboxStats,
  ReleaseOptions,
  TwoPhaseIntent,
} from '../contracts/outbox.js';
import type {
  EmbeddingUpdate,
  RecordWrite,
  RelationalStore,
  RelationalTx,
} from '../contracts/relational-store.js';
import { ClosedError, ValidationError } from '../errors.js';
import { checkClaimOwners } from '../outbox/claim-owners.js';
import {
  ackDelivery,
  enqueueRepair,
  failDelivery,
  type LedgerOutboxPatch,
  type LedgerOutboxRow,
  type LedgerTx,
  NO_LEASE,
  releaseLease,
  renewLease,
} from '../outbox/outbox-ledger.js';
import { toFloat32Precision } from '../record/embedding-codec.js';
import {
  checkStoreCount,
  checkStoreMark,
  checkStoreTime,
  checkStoreVersion,
} from '../record/store-arguments.js';
import { checkSyncedRange, type SyncedOrder } from '../record/synced-order.js';
import type { RecordVersion, StoredRecord, SyncedVersion } from '../record/types.js';
import { validateMetaKey } from '../record/validate.js';
import { compareCodePoints } from '../util/code-point-order.js';

const COMPONENT = 'memory';
/** Largest page of the list methods. */
const MAX_PAGE = 10_000;

interface State {
  records: Map<string, StoredRecord>;
  outbox: Map<string, LedgerOutboxRow>;
  intents: Map<string, TwoPhaseIntent>;
  /** Embedding cache entries by key, with when they were last marked used (Unix ms). */
  cache: Map<string, { embedding: number[]; usedAt: number }>;
  meta: Map<string, string>;
  sequence: number;
}

const emptyState = (): State => ({
  records: new Map(),
  outbox: new Map(),
  intents: new Map(),
  cache: new Map(),
  meta: new Map(),
  sequence: 0,
});

/** See core's `checkStoreTime`. */
const checkTime = (value: unknown, field: string) => checkStoreTime(value, field, COMPONENT);
/** See core's `checkStoreVersion`. */
const checkVersion = (value: unknown, field: string) => checkStoreVersion(value, field, COMPONENT);

function checkLimit(field: string, limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw new ValidationError(field, `must be an integer in 1..${MAX_PAGE}, got ${limit}`, {
      component: COMPONENT,
      limit: `1..${MAX_PAGE}`,
    });
}

const entryOf = (row: LedgerOutboxRow): OutboxEntry => ({
  recordId: row.recordId,
  version: row.version,
  op: row.op,
  state: row.state,
  attempts: row.attempts,
  nextAttemptAt: row.nextAttemptAt,
  enqueuedAt: row.enqueuedAt,
  lastError: row.lastError,
});

/** The ledger's primitives over one transaction's copy of the state. */
class MemoryLedgerTx implements LedgerTx {
  constructor(protected readonly state: State) {}

  async getOutboxRow(recordId: string): Promise<LedgerOutboxRow | undefined> {
    const row = this.state.outbox.get(recordId);
    return row && { ...row };
  }
  async updateOutboxRow(recordId: string, patch: LedgerOutboxPatch): Promise<void> {
    const row = this.state.outbox.get(recordId);
    if (row) this.state.outbox.set(recordId, { ...row, ...patch });
  }
  async deleteOutboxRow(recordId: string): Promise<void> {
    this.state.outbox.delete(recordId);
  }
  async enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void> {
    checkVersion(version, 'version');
    checkTime(now, 'now');
    const row = this.state.outbox.get(recordId);
    this.state.outbox.set(
      recordId,
      row === undefined
        ? {
            recordId,
            version,
            op,
            state: 'pending',
            attempts: 0,
            nextAttemptAt: now,
            enqueuedAt: now,
            lastError: null,
            ...NO_LEASE,
          }
        : {
            ...row,
            version,
            op,
            attempts: 0,
            state: 'pending',
            nextAttemptAt: now,
            enqueuedAt: row.state === 'pending' ? row.enqueuedAt : now,
            leaseVersion: row.leaseVersion === null ? null : Math.min(row.leaseVersion, version - 1),
          },
    );
  }
  async getRecordState(recordId: string): Promise<{ version: number; deleted: boolean } | undefined> {
    const record = this.state.records.get(recordId);
    return record && { version: record.version, deleted: record.deleted };
  }
  async raiseSyncedVersion(recordId: string, version: number): Promise<void> {
    const record = this.state.records.get(recordId);
    if (record && (record.syncedVersion === null || record.syncedVersion < version))
      record.syncedVersion = version;
  }
  async deleteTombstone(recordId: string, version: number): Promise<void> {
    const record = this.state.records.get(recordId);
    if (record?.deleted && record.version <= version) this.state.records.delete(recordId);
  }
  async countIntents(recordId: string): Promise<number> {
    let n = 0;
    for (const intent of this.state.intents.values()) if (intent.recordId === recordId) n++;
    return n;
  }
  async currentVersion(): Promise<number> {
    return this.state.sequence;
  }
}

/** A {@link RelationalTx} over the transaction's copy of the state; `native` is that copy (for tests). */
class MemoryTx extends MemoryLedgerTx implements RelationalTx<unknown> {
  get native(): unknown {
    return this.state;
  }
  async getRecord(id: string): Promise<StoredRecord | undefined> {
    const record = this.state.records.get(id);
    return record && structuredClone(record);
  }
  async nextVersion(atLeast = 0): Promise<number> {
    checkVersion(atLeast, 'atLeast');
    this.state.sequence = Math.max(this.state.sequence, atLeast) + 1;
    return this.state.sequence;
  }
  async writeRecord(r: RecordWrite): Promise<void> {
    checkVersion(r.version, 'record.version');
    if (r.syncedVersion !== null) checkVersion(r.syncedVersion, 'record.syncedVersion');
    checkTime(r.now, 'record.now');
    const old = this.state.records.get(r.id);
    let syncedVersion = old?.syncedVersion ?? null;
    if (r.syncedVersion !== null && (syncedVersion === null || r.syncedVersion > syncedVersion))
      syncedVersion = r.syncedVersion;
    this.state.records.set(r.id, {
      id: r.id,
      text: r.text,
      embedding: r.embedding === null ? null : toFloat32Precision(r.embedding),
      metadata: structuredClone(r.metadata),
      version: r.version,
      deleted: r.deleted,
      contentHash: r.contentHash,
      syncedVersion,
      createdAt: old === undefined || (old.deleted && !r.deleted) ? r.now : old.createdAt,
      updatedAt: r.now,
    });
  }
  async getOutboxEntry(recordId: string): Promise<OutboxEntry | undefined> {
    const row = this.state.outbox.get(recordId);
    return row && entryOf(row);
  }
  async putIntent(intent: TwoPhaseIntent): Promise<void> {
    checkVersion(intent.version, 'intent.version');
    checkTime(intent.expiresAt, 'intent.expiresAt');
    this.state.intents.set(intent.token, { ...intent });
  }
  async deleteIntent(token: string): Promise<boolean> {
    return this.state.intents.delete(token);
  }
}

/**
 * What a {@link MemoryRelationalStore} holds. Pass one to several stores (or to a store opened after
 * another was closed) to model processes sharing one database.
 */
export class MemoryRelationalData {
  /** @internal */ state = emptyState();
  /** Tail of the transaction queue: one write transaction at a time, as SQLite's single writer. @internal */
  queue: Promise<unknown> = Promise.resolve();

  /** A copy of everything the source holds now (records, outbox, intents, meta, sequence): a backup. */
  snapshot(): MemoryRelationalSnapshot {
    return { state: structuredClone(this.state) };
  }

  /**
   * Puts back what {@link snapshot} copied — the database restored from a backup under running processes.
   * @param options.keepSequence - keep the version sequence where it is when it is ahead (as a process that
   *   keeps its own high-water mark, or a dump taken while writing that restores the sequence ahead of its records).
   */
  restore(copy: MemoryRelationalSnapshot, options: { keepSequence?: boolean } = {}): void {
    const sequence = this.state.sequence;
    this.state = structuredClone(copy.state as State);
    if (options.keepSequence) this.state.sequence = Math.max(sequence, this.state.sequence);
  }
}

/** A copy of a {@link MemoryRelationalData} (see {@link MemoryRelationalData.snapshot}). */
export interface MemoryRelationalSnapshot {
  readonly state: unknown;
}

/**
 * The in-memory reference store (see the module doc). `name` is `'memory'`.
 *
 * @example
 * ```ts
 * relationalStoreSuite('memory', async () => ({ store: new MemoryRelationalStore(), cleanup: async () => {} }));
 * ```
 */
export class MemoryRelationalStore implements RelationalStore<unknown> {
  readonly name = 'memory';
  readonly #data: MemoryRelationalData;
  #closed = false;

  /** @param options.data - the data to open (default: new, empty). */
  constructor(options: { data?: MemoryRelationalData } = {}) {
    this.#data = options.data ?? new MemoryRelationalData();
  }

  async init(): Promise<void> {
    this.#open('init');
  }

  async transaction<T>(fn: (tx: RelationalTx<unknown>) => Promise<T>): Promise<T> {
    this.#open('transaction');
    return this.#write(async (state) => fn(new MemoryTx(state)));
  }

  async getRecords(
    ids: readonly string[],
    options: { includeDeleted?: boolean } = {},
  ): Promise<Map<string, StoredRecord>> {
    const state = this.#read('getRecords');
    const out = new Map<string, StoredRecord>();
    for (const id of ids) {
      const record = state.records.get(id);
      if (record && (options.includeDeleted || !record.deleted)) out.set(id, structuredClone(record));
    }
    return out;
  }

  async listRecords(options: { after?: string; limit: number }): Promise<StoredRecord[]> {
    checkLimit('limit', options.limit);
    return this.#page('listRecords', options, (r) => !r.deleted).map((r) => structuredClone(r));
  }

  async listVersions(options: { after?: string; limit: number }): Promise<RecordVersion[]> {
    checkLimit('limit', options.limit);
    return this.#page('listVersions', options, () => true).map(({ id, version, deleted }) => ({
      id,
      version,
      deleted,
    }));
  }

  async countRecords(): Promise<number> {
    return [...this.#read('countRecords').records.values()].filter((r) => !r.deleted).length;
  }

  async setEmbeddings(updates: readonly EmbeddingUpdate[]): Promise<boolean[]> {
    for (const [i, u] of updates.entries()) checkVersion(u.version, `updates[${i}].version`);
    return this.#write(
      (state) =>
        updates.map(({ id, version, embedding }) => {
          const record = state.records.get(id);
          if (!record || record.deleted || record.version !== version) return false;
          record.embedding = toFloat32Precision(embedding);
          return true;
        }),
      'setEmbeddings',
    );
  }

  async markSynced(id: string, version: number): Promise<void> {
    checkVersion(version, 'version');
    await this.#ledger('markSynced', (tx) => tx.raiseSyncedVersion(id, version));
  }

  async claimOutbox(options: ClaimOptions): Promise<OutboxLease[]> {
    checkLimit('limit', options.limit);
    checkTime(options.now, 'now');
    checkStoreCount(options.leaseMs, 'leaseMs', COMPONENT);
    checkTime(options.now + options.leaseMs, 'leaseMs');
    return this.#write((state) => {
      const due = [...state.outbox.values()]
        .filter(
          (r) =>
            r.state === 'pending' &&
            r.nextAttemptAt <= options.now &&
            (r.leaseUntil === null || r.leaseUntil <= options.now),
        )
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.enqueuedAt - b.enqueuedAt)
        .slice(0, options.limit);
      return due.map((row) => {
        const lease = {
          leaseToken: randomUUID(),
          leaseOwner: options.owner,
          leaseUntil: options.now + options.leaseMs,
        };
        state.outbox.set(row.recordId, { ...row, ...lease, leaseVersion: row.version });
        return { ...entryOf(row), ...lease, takenOver: row.leaseUntil !== null };
      });
    }, 'claimOutbox');
  }

  async ackOutbox(acks: readonly OutboxAck[], now: number): Promise<AckOutcome[]> {
    checkTime(now, 'now');
    for (const [i, a] of acks.entries()) checkVersion(a.appliedVersion, `acks[${i}].appliedVersion`);
    return this.#ledger('ackOutbox', async (tx) => {
      const outcomes: AckOutcome[] = [];
      for (const ack of acks) outcomes.push(await ackDelivery(tx, ack, now));
      return outcomes;
    });
  }

  async failOutbox(failure: OutboxFailure): Promise<'retry' | 'dead' | 'lease-lost'> {
    checkStoreCount(failure.maxAttempts, 'failure.maxAttempts', COMPONENT);
    checkTime(failure.now, 'failure.now');
    checkTime(failure.retryAt, 'failure.retryAt');
    return this.#ledger('failOutbox', (tx) => failDelivery(tx, failure));
  }

  async renewOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    leaseUntil: number,
  ): Promise<string[]> {
    checkTime(leaseUntil, 'leaseUntil');
    return this.#ledger('renewOutbox', async (tx) => {
      const held: string[] = [];
      for (const lease of leases) if (await renewLease(tx, lease, leaseUntil)) held.push(lease.recordId);
      return held;
    });
  }

  async releaseOutbox(
    leases: readonly Pick<OutboxLease, 'recordId' | 'leaseToken'>[],
    retryAt: number,
    options: ReleaseOptions = {},
  ): Promise<void> {
    checkTime(retryAt, 'retryAt');
    await this.#ledger('releaseOutbox', async (tx) => {
      for (const lease of leases) await releaseLease(tx, lease, retryAt, options.inDoubt);
    });
  }

  async releaseClaims(owners: readonly string[]): Promise<number> {
    checkClaimOwners(owners);
    const named = new Set(owners);
    return this.#write((state) => {
      let released = 0;
      for (const row of state.outbox.values())
        if (row.leaseOwner !== null && named.has(row.leaseOwner)) {
          state.outbox.set(row.recordId, { ...row, ...NO_LEASE });
          released++;
        }
      return released;
    });
  }

  async enqueueRepairs(ids: readonly string[], now: number): Promise<number> {
    checkTime(now, 'now');
    const distinct = [...new Set(ids)];
    return this.#ledger('enqueueRepairs', async (tx) => {
      for (const id of distinct) await enqueueRepair(tx, id, now);
      return distinct.length;
    });
  }

  async getOutboxEntry(id: string): Promise<OutboxEntry | undefined> {
    const row = this.#read('getOutboxEntry').outbox.get(id);
    return row && entryOf(row);
  }

  async listDeadLetters(options: { after?: string; limit: number }): Promise<OutboxEntry[]> {
    checkLimit('limit', options.limit);
    return [...this.#read('listDeadLetters').outbox.values()]
      .filter(
        (r) =>
          r.state === 'dead' &&
          (options.after === undefined || compareCodePoints(r.recordId, options.after) > 0),
      )
      .sort((a, b) => compareCodePoints(a.recordId, b.recordId))
      .slice(0, options.limit)
      .map(entryOf);
  }

  async requeueDeadLetters(ids: readonly string[] | undefined, now: number): Promise<number> {
    checkTime(now, 'now');
    return this.#write((state) => {
      let moved = 0;
      for (const row of state.outbox.values()) {
        if (row.state !== 'dead' || (ids !== undefined && !ids.includes(row.recordId))) continue;
        state.outbox.set(row.recordId, {
          ...row,
          ...NO_LEASE,
          state: 'pending',
          attempts: 0,
          nextAttemptAt: now,
          enqueuedAt: now,
        });
        moved++;
      }
      return moved;
    }, 'requeueDeadLetters');
  }

  async outboxStats(now: number): Promise<OutboxStats> {
    checkTime(now, 'now');
    const rows = [...this.#read('outboxStats').outbox.values()];
    const pending = rows.filter((r) => r.state === 'pending');
    return {
      depth: pending.length,
      inFlight: pending.filter((r) => r.leaseUntil !== null && r.leaseUntil > now).length,
      deadLetters: rows.length - pending.length,
      oldestPendingAt: pending.length === 0 ? null : Math.min(...pending.map((r) => r.enqueuedAt)),
      deletes: rows.filter((r) => r.op === 'delete').length,
      lowestPendingVersion: pending.length === 0 ? null : Math.min(...pending.map((r) => r.version)),
    };
  }

  async recentlySynced(
    limit: number,
    above = 0,
    order: SyncedOrder = 'highest-first',
  ): Promise<SyncedVersion[]> {
    checkLimit('limit', limit);
    checkSyncedRange(above, order);
    const state = this.#read('recentlySynced');
    return [...state.records.values()]
      .filter(
        (r) => !r.deleted && r.syncedVersion !== null && r.syncedVersion > above && !state.outbox.has(r.id),
      )
      .map((r) => ({ id: r.id, syncedVersion: r.syncedVersion! }))
      .sort((a, b) => (order === 'lowest-first' ? -1 : 1) * (b.syncedVersion - a.syncedVersion))
      .slice(0, limit);
  }

  async maxPendingVersion(): Promise<number | null> {
    const pending = [...this.#read('maxPendingVersion').outbox.values()].filter((r) => r.state === 'pending');
    return pending.length === 0 ? null : Math.max(...pending.map((r) => r.version));
  }

  async listExpiredIntents(now: number, limit: number): Promise<TwoPhaseIntent[]> {
    checkLimit('limit', limit);
    checkTime(now, 'now');
    return [...this.#read('listExpiredIntents').intents.values()]
      .filter((i) => i.expiresAt <= now)
      .sort((a, b) => a.expiresAt - b.expiresAt || compareCodePoints(a.token, b.token))
      .slice(0, limit)
      .map((i) => ({ ...i }));
  }

  async purgeTombstones(ids: readonly string[]): Promise<number> {
    checkLimit('ids', Math.max(1, ids.length));
    return this.#write((state) => {
      const intended = new Set([...state.intents.values()].map((intent) => intent.recordId));
      let purged = 0;
      for (const id of new Set(ids)) {
        const r = state.records.get(id);
        if (!r?.deleted || r.syncedVersion !== r.version || state.outbox.has(id) || intended.has(id))
          continue;
        state.records.delete(id);
        purged++;
      }
      return purged;
    });
  }

  async getCachedEmbeddings(
    keys: readonly string[],
    options: { refresh?: { usedAt: number; staleBefore: number } } = {},
  ): Promise<Map<string, number[]>> {
    const { refresh } = options;
    if (refresh) {
      checkStoreMark(refresh.usedAt, 'options.refresh.usedAt', COMPONENT);
      checkStoreMark(refresh.staleBefore, 'options.refresh.staleBefore', COMPONENT);
    }
    const cache = this.#read('getCachedEmbeddings').cache;
    const out = new Map<string, number[]>();
    const stale: string[] = [];
    for (const key of keys) {
      const entry = cache.get(key);
      if (!entry) continue;
      out.set(key, [...entry.embedding]);
      if (refresh && entry.usedAt < refresh.staleBefore) stale.push(key);
    }
    if (refresh && stale.length > 0)
      await this.#write((state) => {
        for (const key of stale) {
          const entry = state.cache.get(key);
          if (entry && entry.usedAt < refresh.staleBefore) entry.usedAt = refresh.usedAt;
        }
      }, 'getCachedEmbeddings');
    return out;
  }

  async putCachedEmbeddings(
    entries: readonly { key: string; embedding: readonly number[] }[],
    options: { usedAt?: number } = {},
  ): Promise<void> {
    const usedAt = options.usedAt ?? Date.now();
    checkStoreMark(usedAt, 'options.usedAt', COMPONENT);
    await this.#write((state) => {
      for (const e of entries) state.cache.set(e.key, { embedding: toFloat32Precision(e.embedding), usedAt });
    }, 'putCachedEmbeddings');
  }

  async pruneCachedEmbeddings(usedBefore: number, limit: number): Promise<number> {
    checkLimit('limit', limit);
    checkStoreMark(usedBefore, 'usedBefore', COMPONENT);
    return this.#write((state) => {
      const old = [...state.cache].filter(([, e]) => e.usedAt < usedBefore);
      old.sort(([, x], [, y]) => x.usedAt - y.usedAt);
      for (const [key] of old.slice(0, limit)) state.cache.delete(key);
      return Math.min(limit, old.length);
    }, 'pruneCachedEmbeddings');
  }

  async currentVersion(): Promise<number> {
    return this.#read('currentVersion').sequence;
  }

  async getMeta(key: string): Promise<string | undefined> {
    validateMetaKey(key, COMPONENT);
    return this.#read('getMeta').meta.get(key);
  }

  async setMeta(key: string, value: string | null): Promise<void> {
    validateMetaKey(key, COMPONENT);
    await this.#write((state) => {
      if (value === null) state.meta.delete(key);
      else state.meta.set(key, value);
    }, 'setMeta');
  }

  async insertMeta(key: string, value: string): Promise<string> {
    validateMetaKey(key, COMPONENT);
    let held = value;
    await this.#write((state) => {
      held = state.meta.get(key) ?? value;
      state.meta.set(key, held);
    }, 'insertMeta');
    return held;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#data.queue.catch(() => {});
  }

  #open(operation: string): void {
    if (this.#closed) throw new ClosedError(`memory store (${operation})`, { component: COMPONENT });
  }

  #read(operation: string): State {
    this.#open(operation);
    return this.#data.state;
  }

  #page(
    operation: string,
    options: { after?: string; limit: number },
    keep: (r: StoredRecord) => boolean,
  ): StoredRecord[] {
    return [...this.#read(operation).records.values()]
      .filter((r) => keep(r) && (options.after === undefined || compareCodePoints(r.id, options.after) > 0))
      .sort((a, b) => compareCodePoints(a.id, b.id))
      .slice(0, options.limit);
  }

  /** Runs `fn` on a copy of the state, alone; the copy replaces the state when `fn` resolves. */
  #write<T>(fn: (state: State) => T | Promise<T>, operation?: string): Promise<T> {
    if (operation) this.#open(operation);
    const data = this.#data;
    const run = data.queue.then(async () => {
      const copy = structuredClone(data.state);
      try {
        const result = await fn(copy);
        data.state = copy;
        return result;
      } finally {
        // Like a SQL sequence, a number drawn in a rolled-back transaction is never handed out again.
        data.state.sequence = Math.max(data.state.sequence, copy.sequence);
      }
    });
    data.queue = run.catch(() => {});
    return run;
  }

  #ledger<T>(operation: string, fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    return this.#write((state) => fn(new MemoryLedgerTx(state)), operation);
  }
}
