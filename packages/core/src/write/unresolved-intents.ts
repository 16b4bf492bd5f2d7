import type { TwoPhaseIntent } from '../contracts/outbox.js';
import type { RelationalStore } from '../contracts/relational-store.js';
import { rollBackIntent } from './roll-back-intent.js';

/** A written change's intent: rolled back. */
type WrittenIntent = Pick<TwoPhaseIntent, 'token' | 'recordId' | 'version'>;

/** An intent of a failed sync-2pc call of this process. */
interface UnresolvedIntent {
  /** `null` for a no-op's intent (nothing was written to the index): only deleted. */
  written: WrittenIntent | null;
  /** When the call gave up on it, Unix ms: the time its repair is enqueued at. */
  failedAt: number;
}

/** First and longest pause between attempts while the source stays unreachable, ms. */
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2_000;

/**
 * The intents of this process's failed sync-2pc calls that their compensation could not take back because the
 * source of truth was unreachable (the commit failed for that very reason, as a rule), rolled back
 * ({@link rollBackIntent}) as soon as the source answers again, retrying with a doubling pause of 50 ms up to
 * 2 s.
 *
 * Why not leave them to recovery after `intentTtlMs`, as before: until then the index holds the failed write —
 * a vector of a record that never existed, or a version the source never committed — while `flush()` resolved
 * and nothing was pending (a test restarting MariaDB under sync-2pc found an orphan that way, with the suites
 * running two at a time). Recovery waits out the TTL because another process cannot tell an abandoned call from
 * a slow one; this process knows its call is over: a commit that did land removed its intent in its own
 * transaction, and the rollback then finds none and does nothing. Only calls whose vector write has finished
 * come here; one that may still land is left to expire, so that whichever process recovers it watches for it
 * (see `Sync2pcStrategy.compensate`).
 *
 * The repairs are enqueued as of the call's failure, so a `flush()` begun since waits for their delivery too.
 */
export class UnresolvedIntents {
  readonly #pending = new Map<string, UnresolvedIntent>();
  #running: Promise<void> | undefined;
  #stopped = false;

  /**
   * @param relational - the source of truth.
   * @param now - the facade's clock, Unix ms.
   * @param dropIntents - deletes intents by token, in one call (the strategy's own way, which uses the store's
   *   fast path where it has one); throws when the source does not answer.
   * @param onRolledBack - called with how many repairs a pass enqueued (to wake the drainer).
   */
  constructor(
    private readonly relational: RelationalStore,
    private readonly now: () => number,
    private readonly dropIntents: (tokens: readonly string[]) => Promise<void>,
    private readonly onRolledBack: (count: number) => void,
  ) {}

  /** How many intents wait for the source to answer. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Takes over a failed call's intents: `written` (its vector write finished; rolled back) and `dropped` (its
   * no-ops'; deleted). Resolution starts at once, in the background.
   */
  add(written: readonly WrittenIntent[], dropped: readonly string[] = []): void {
    if (this.#stopped) return; // left to expiry and recovery
    const failedAt = this.now();
    for (const intent of written) this.#pending.set(intent.token, { written: intent, failedAt });
    for (const token of dropped) this.#pending.set(token, { written: null, failedAt });
    this.#start();
  }

  /** Stops retrying; what is left expires and is recovered by a process that delivers. */
  stop(): void {
    this.#stopped = true;
  }

  #start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = this.#resolve().finally(() => {
      this.#running = undefined;
      if (this.#pending.size > 0) this.#start(); // added as the pass ended
    });
  }

  async #resolve(): Promise<void> {
    let pauseMs = FIRST_RETRY_MS;
    while (this.#pending.size > 0 && !this.#stopped) {
      let rolledBack = 0;
      try {
        const dropped = [...this.#pending].flatMap(([token, u]) => (u.written === null ? [token] : []));
        if (dropped.length > 0) await this.dropIntents(dropped);
        for (const token of dropped) this.#pending.delete(token);
        for (const [token, { written, failedAt }] of this.#pending) {
          if (written === null) continue; // added during this pass: dropped by the next
          if (await rollBackIntent(this.relational, written, failedAt)) rolledBack++;
          this.#pending.delete(token);
        }
      } catch {
        // Still unreachable (or failing): try again after a pause.
        await new Promise((resolve) => setTimeout(resolve, pauseMs).unref());
        pauseMs = Math.min(pauseMs * 2, MAX_RETRY_MS);
      } finally {
        if (rolledBack > 0) this.onRolledBack(rolledBack);
      }
    }
    if (this.#stopped) this.#pending.clear();
  }
}
