/**
 * Transactional-outbox types. The outbox holds at most one entry per record id: a newer write to the
 * same id replaces the pending entry's version (coalescing), so two workers can never deliver two
 * changes of one id at once, and the worker always applies the record's *current* state.
 *
 * Pattern: Chris Richardson, "Pattern: Transactional outbox", microservices.io.
 */

/** What the entry asks the vector index to do, as of the version that enqueued it. */
export type OutboxOp = 'upsert' | 'delete';

/** Entry state: `pending` entries are delivered; `dead` entries wait for an operator to requeue them. */
export type OutboxState = 'pending' | 'dead';

/** An outbox entry as stored. All times are Unix ms. */
export interface OutboxEntry {
  recordId: string;
  /** Latest record version this entry must make visible. */
  version: number;
  op: OutboxOp;
  state: OutboxState;
  /** Failed delivery attempts charged so far (outage pauses are not charged). */
  attempts: number;
  /** Earliest time the entry may be claimed. */
  nextAttemptAt: number;
  /** When the oldest still-undelivered change for this id was enqueued. */
  enqueuedAt: number;
  /** Last delivery error message, if any. */
  lastError: string | null;
}

/** A claimed entry: the holder alone may deliver it until `leaseUntil`. */
export interface OutboxLease extends OutboxEntry {
  /** Random token proving ownership; required to ack, fail or release. */
  leaseToken: string;
  /** Claimer id given to {@link ClaimOptions.owner}. */
  leaseOwner: string;
  /** Lease expiry, Unix ms. After it another worker may claim the entry. */
  leaseUntil: number;
  /**
   * `true` when an earlier claim's vector write may still land: its lease ran out without an ack, a fail or a
   * release (a worker that died or stalled), or it was failed or released in doubt ({@link OutboxFailure.inDoubt}).
   * Such a write can reach the index after this claim's delivery (on a store without a version fence it would
   * replace the newer state; core then looks at these ids again, see `LateWriteWatch`). Stores keep it as a
   * `leaseUntil` left set after the lease ended. Optional for stores written before it (read as `false`).
   */
  takenOver?: boolean;
}

/** Options for `claimOutbox`. */
export interface ClaimOptions {
  /** Worker identity recorded on the lease (for operators), e.g. `host:pid:worker-2`. */
  owner: string;
  /** Max entries to claim, >= 1. */
  limit: number;
  /** Lease length in ms. */
  leaseMs: number;
  /** Current time, Unix ms (injectable clock). */
  now: number;
}

/** Acknowledges that `appliedVersion` of the record is now reflected in the vector index. */
export interface OutboxAck {
  recordId: string;
  leaseToken: string;
  /** The record version actually applied (upserted, or deleted for a tombstone). */
  appliedVersion: number;
}

/**
 * Result of one ack:
 * - `acked`: entry removed (nothing newer pending).
 * - `superseded`: something was enqueued for the entry meanwhile (a newer version, or a repair at the same
 *   version); the entry stays pending with its lease cleared and is delivered again.
 * - `lease-lost`: the lease expired and was taken or finished by someone else; a repair was enqueued so the
 *   index converges to the current state even if this delivery landed late.
 */
export type AckOutcome = 'acked' | 'superseded' | 'lease-lost';

/** Records one failed delivery. */
export interface OutboxFailure {
  recordId: string;
  leaseToken: string;
  /** Error message kept as `lastError`. */
  error: string;
  /** `true` moves the entry to dead letter at once (permanent error). */
  permanent: boolean;
  /** Attempts after which the entry is dead-lettered (the charged count, including this one). */
  maxAttempts: number;
  /** When to try again if not dead-lettered, Unix ms. */
  retryAt: number;
  now: number;
  /**
   * `true` when the failed vector write may still land (a timeout: the request left for the server): the entry
   * keeps a mark (an expired `leaseUntil` with no token) so the next claim reports it {@link OutboxLease.takenOver}
   * and that claimer watches the id — also when this process is gone by then. Optional for stores written
   * before it.
   */
  inDoubt?: boolean;
}

/** Options of `RelationalStore.releaseOutbox`. */
export interface ReleaseOptions {
  /** As {@link OutboxFailure.inDoubt}: the released entries' vector write may still land. */
  inDoubt?: boolean;
}

/** Outbox gauges. */
export interface OutboxStats {
  /** Pending entries (leased or not). */
  depth: number;
  /** Pending entries currently under an unexpired lease. */
  inFlight: number;
  /** Entries in dead letter. */
  deadLetters: number;
  /** `enqueuedAt` of the oldest pending entry, Unix ms, or `null` when empty. */
  oldestPendingAt: number | null;
  /**
   * Optional: entries (pending or dead) whose `op` is `'delete'` — tombstones whose row the index may still
   * hold. The index's count check bounds the index's rows by live records plus these; without it, by live
   * records plus every pending and dead entry (a looser bound: rows a restore brought back can hide in it).
   */
  deletes?: number;
  /**
   * Optional: the lowest version among pending entries (leased or not; dead letters left out), or `null` when
   * none is pending. A periodic index check keeps looking up acknowledgements above it: a change written
   * before a later one can be acknowledged after it.
   */
  lowestPendingVersion?: number | null;
}

/** A sync-2pc intent: logged before the vector write, removed when the record commits. */
export interface TwoPhaseIntent {
  /** Unique token of this intent. */
  token: string;
  recordId: string;
  /** Version the intent will commit. */
  version: number;
  /** After this time (Unix ms) recovery may resolve the intent as abandoned. */
  expiresAt: number;
}
