import { randomBytes } from 'node:crypto';
import type { ClaimOptions, OutboxLease } from '../contracts/outbox.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import { ValidationError } from '../errors.js';

/** Most owners one `RelationalStore.releaseClaims` call takes. */
export const MAX_CLAIM_OWNERS = 1_000;

/**
 * Checks `releaseClaims`'s argument.
 * @throws {ValidationError} naming `owners` when it is not an array of at most {@link MAX_CLAIM_OWNERS} strings.
 */
export function checkClaimOwners(owners: readonly string[], component?: string): void {
  if (!Array.isArray(owners) || owners.some((owner) => typeof owner !== 'string'))
    throw new ValidationError('owners', 'must be an array of strings', { component });
  if (owners.length > MAX_CLAIM_OWNERS)
    throw new ValidationError('owners', `has ${owners.length} owners`, {
      component,
      limit: `<= ${MAX_CLAIM_OWNERS}`,
    });
}

/**
 * Claims under an owner of its own per claim (`<owner>#<nonce>.<n>`: the nonce is this drainer's, as processes
 * configured with one `delivery.owner` must never give back each other's claims), and gives back the leases of
 * a claim that failed once the store answers again (`RelationalStore.releaseClaims`): a claim whose reply was
 * lost — a connection dropped, a timeout — may have committed, and its entries would otherwise stay leased to
 * this live process, which never saw them, until their lease expired. Failed claims older than the lease are
 * forgotten (their leases expired by themselves). Without `releaseClaims` on the store it claims as before.
 */
export class ClaimOwners {
  #claims = 0;
  /** Random per drainer: two drainers given one owner name never name a claim alike. */
  readonly #nonce = randomBytes(6).toString('hex');
  /** Owners of failed claims whose leases may still be held, and when each was claimed (ms). */
  readonly #failed = new Map<string, number>();

  constructor(
    private readonly owner: string,
    private readonly relational: RelationalStore,
    private readonly leaseMs: number,
  ) {}

  /**
   * Gives back what failed claims may hold, then claims. Throws what the store throws (a failed claim is
   * remembered; a failed release leaves them remembered for the next call).
   */
  async claim(options: Omit<ClaimOptions, 'owner'>): Promise<OutboxLease[]> {
    await this.releaseFailed(options.now);
    const owner = `${this.owner}#${this.#nonce}.${++this.#claims}`;
    try {
      return await this.relational.claimOutbox({ ...options, owner });
    } catch (error) {
      if (this.relational.releaseClaims && this.#failed.size < MAX_CLAIM_OWNERS)
        this.#failed.set(owner, options.now);
      throw error;
    }
  }

  private async releaseFailed(now: number): Promise<void> {
    for (const [owner, at] of this.#failed) if (at + this.leaseMs <= now) this.#failed.delete(owner);
    if (this.#failed.size === 0) return;
    const owners = [...this.#failed.keys()];
    await this.relational.releaseClaims!(owners);
    for (const owner of owners) this.#failed.delete(owner);
  }
}
