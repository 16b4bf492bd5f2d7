/**
 * The outbox ledger: every decision about an outbox entry after it was enqueued — what an ack does, when
 * a failure retries or dead-letters, what a release, a renewal and a repair change —
 * written once, over the row-level primitives of {@link LedgerTx}. A store runs each function inside one
 * of its write transactions; the rules are then the same for every backend, and the contract suite
 * checks any set-based fast path a store keeps against them.
 *
 * The doc comments of `contracts/relational-store.ts` and `contracts/outbox.ts` are the specification.
 *
 * @packageDocumentation
 */
import type {
  AckOutcome,
  OutboxAck,
  OutboxEntry,
  OutboxFailure,
  OutboxLease,
  OutboxOp,
} from '../contracts/outbox.js';

/** An outbox row as a store keeps it: the entry plus its lease columns (all `null` when not leased). */
export interface LedgerOutboxRow extends OutboxEntry {
  leaseToken: string | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** The entry's `version` when it was claimed; an enqueue under the lease leaves it below `version` ({@link overtaken}). */
  leaseVersion: number | null;
}

/** Columns of an outbox row the ledger changes. */
export type LedgerOutboxPatch = Partial<
  Pick<
    LedgerOutboxRow,
    | 'state'
    | 'attempts'
    | 'lastError'
    | 'nextAttemptAt'
    | 'leaseToken'
    | 'leaseOwner'
    | 'leaseUntil'
    | 'leaseVersion'
  >
>;

/** Row-level primitives of one write transaction, all on the store's own tables. */
export interface LedgerTx {
  /** The outbox row of `recordId` in either state, with its lease columns. */
  getOutboxRow(recordId: string): Promise<LedgerOutboxRow | undefined>;
  /** Sets the given columns of the outbox row of `recordId` (no-op when there is none). */
  updateOutboxRow(recordId: string, patch: LedgerOutboxPatch): Promise<void>;
  deleteOutboxRow(recordId: string): Promise<void>;
  /** The coalescing enqueue of `RelationalTx.enqueue`. */
  enqueue(recordId: string, version: number, op: OutboxOp, now: number): Promise<void>;
  /** Version and tombstone flag of the record row, or `undefined` when there is no row. */
  getRecordState(recordId: string): Promise<{ version: number; deleted: boolean } | undefined>;
  /** Raises the record's `syncedVersion` to `version` if that is higher (a missing record is ignored). */
  raiseSyncedVersion(recordId: string, version: number): Promise<void>;
  /** Deletes the record row if it is a tombstone at `version` or older. */
  deleteTombstone(recordId: string, version: number): Promise<void>;
  /** Number of sync-2pc intents logged for `recordId`. */
  countIntents(recordId: string): Promise<number>;
  /** Highest version the sequence has handed out (0 when none). */
  currentVersion(): Promise<number>;
}

/** The lease columns of a row that is not leased. */
export const NO_LEASE = Object.freeze({
  leaseToken: null,
  leaseOwner: null,
  leaseUntil: null,
  leaseVersion: null,
} satisfies LedgerOutboxPatch);

/**
 * The lease columns of a row given back after a vector write that may still land (`OutboxFailure.inDoubt`):
 * no token, and a `leaseUntil` left set (`0`, long expired) — the mark the next claim reads as `takenOver`.
 */
export const IN_DOUBT = Object.freeze({ ...NO_LEASE, leaseUntil: 0 } satisfies LedgerOutboxPatch);

const ended = (inDoubt: boolean | undefined) => (inDoubt ? IN_DOUBT : NO_LEASE);

const holds = (row: LedgerOutboxRow | undefined, token: string): row is LedgerOutboxRow =>
  row !== undefined && row.leaseToken !== null && row.leaseToken === token;

/**
 * Whether something was enqueued for a leased entry after its claim (`RelationalTx.enqueue`): a claim sets
 * `leaseVersion` to the entry's version, and an enqueue on the leased entry leaves it below the entry's
 * version — a newer version moves `version` past it, a repair at the same version lowers it to `version - 1`
 * (which older releases also read as "a newer version was enqueued"). Such an entry is delivered again even at
 * the same version: the enqueue may be a repair after a stale write (a sync-2pc writer's, or a compensation's)
 * that landed in the index after this lease's delivery did — completing the entry on that lease's ack would
 * leave the index stale with nothing queued (found by the crash harness: two sync-2pc writers racing on one
 * new id while a drainer delivered it).
 */
export const overtaken = (row: LedgerOutboxRow): boolean =>
  row.leaseToken !== null && row.leaseVersion !== null && row.leaseVersion < row.version;

/**
 * Whether an ack of `row` at `appliedVersion` (its lease held) is `superseded` rather than `acked`: a newer
 * version is enqueued, or the lease was {@link overtaken}. The ledger's rule, shared with set-based acks.
 */
export const supersedes = (row: LedgerOutboxRow, appliedVersion: number): boolean =>
  row.version > appliedVersion || overtaken(row);

/**
 * Enqueues the record's current state: `upsert` at its version when live, `delete` at the tombstone's
 * version, or `delete` at the highest version handed out so far when there is no row (above anything the
 * index can hold, so a late upsert of an older version is fenced out).
 */
export async function enqueueRepair(tx: LedgerTx, recordId: string, now: number): Promise<void> {
  const record = await tx.getRecordState(recordId);
  if (record === undefined) await tx.enqueue(recordId, await tx.currentVersion(), 'delete', now);
  else await tx.enqueue(recordId, record.version, record.deleted ? 'delete' : 'upsert', now);
}

/**
 * One ack:
 * - the token is no longer on the entry (lease expired and re-claimed, or entry gone) → `lease-lost`, and
 *   the record's current state is enqueued ({@link enqueueRepair}), so a late delivery cannot stick;
 * - the entry's version is newer than `appliedVersion`, or something was enqueued for it while leased
 *   (see {@link overtaken}) → `superseded`: lease cleared, claimable now;
 * - otherwise → `acked`: entry deleted, and a tombstone at `appliedVersion` or older is purged unless a
 *   sync-2pc intent for the record exists (the tombstone is that writer's proof a newer delete happened).
 *
 * The record's `syncedVersion` is raised to `appliedVersion` for `acked` and `superseded`.
 */
export async function ackDelivery(tx: LedgerTx, ack: OutboxAck, now: number): Promise<AckOutcome> {
  const row = await tx.getOutboxRow(ack.recordId);
  if (!holds(row, ack.leaseToken)) {
    await enqueueRepair(tx, ack.recordId, now);
    return 'lease-lost';
  }
  await tx.raiseSyncedVersion(ack.recordId, ack.appliedVersion);
  if (supersedes(row, ack.appliedVersion)) {
    await tx.updateOutboxRow(ack.recordId, { ...NO_LEASE, nextAttemptAt: Math.min(row.nextAttemptAt, now) });
    return 'superseded';
  }
  await tx.deleteOutboxRow(ack.recordId);
  if ((await tx.countIntents(ack.recordId)) === 0) await tx.deleteTombstone(ack.recordId, ack.appliedVersion);
  return 'acked';
}

/**
 * One failed delivery. Token mismatch → `lease-lost` (nothing changes). Otherwise `lastError = error`, the
 * lease is cleared (marked {@link IN_DOUBT} when `failure.inDoubt`) and an attempt is charged: `dead` when
 * `permanent` or the charged count reaches `maxAttempts`, else `retry` at `retryAt`. If something was enqueued
 * while the entry was leased (a newer version, or a repair: {@link overtaken}), the failure concerned an older
 * state: nothing is charged and the entry is never dead-lettered for it (`retry` at `retryAt`).
 */
export async function failDelivery(
  tx: LedgerTx,
  failure: OutboxFailure,
): Promise<'retry' | 'dead' | 'lease-lost'> {
  const row = await tx.getOutboxRow(failure.recordId);
  if (!holds(row, failure.leaseToken)) return 'lease-lost';
  if (overtaken(row)) {
    await tx.updateOutboxRow(failure.recordId, {
      ...ended(failure.inDoubt),
      lastError: failure.error,
      nextAttemptAt: failure.retryAt,
    });
    return 'retry';
  }
  const dead = failure.permanent || row.attempts + 1 >= failure.maxAttempts;
  await tx.updateOutboxRow(failure.recordId, {
    ...ended(failure.inDoubt),
    attempts: row.attempts + 1,
    lastError: failure.error,
    state: dead ? 'dead' : 'pending',
    nextAttemptAt: dead ? row.nextAttemptAt : failure.retryAt,
  });
  return dead ? 'dead' : 'retry';
}

/**
 * Gives a lease back without charging an attempt (claimable at `retryAt`); a token no longer held is ignored.
 * `inDoubt`: its vector write may still land (see {@link IN_DOUBT}).
 */
export async function releaseLease(
  tx: LedgerTx,
  lease: Pick<OutboxLease, 'recordId' | 'leaseToken'>,
  retryAt: number,
  inDoubt = false,
): Promise<void> {
  const row = await tx.getOutboxRow(lease.recordId);
  if (holds(row, lease.leaseToken))
    await tx.updateOutboxRow(lease.recordId, { ...ended(inDoubt), nextAttemptAt: retryAt });
}

/** Extends a lease still held under its token on a pending entry to `leaseUntil`; `true` when it was. */
export async function renewLease(
  tx: LedgerTx,
  lease: Pick<OutboxLease, 'recordId' | 'leaseToken'>,
  leaseUntil: number,
): Promise<boolean> {
  const row = await tx.getOutboxRow(lease.recordId);
  if (!holds(row, lease.leaseToken) || row.state !== 'pending') return false;
  await tx.updateOutboxRow(lease.recordId, { leaseUntil });
  return true;
}
