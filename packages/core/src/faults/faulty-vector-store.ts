import type { DeleteOptions, UpsertOptions, UpsertReport, VectorStore } from '../contracts/vector-store.js';
import { BackendUnavailableError, PermanentBackendError, TransientBackendError } from '../errors.js';
import type { VectorRecord } from '../record/types.js';
import { VectorStoreWrapper } from './vector-store-wrapper.js';

/** One recorded call to the wrapped store's write methods. */
export interface VectorCall {
  op: 'upsert' | 'delete';
  ids: string[];
  /** `true` when the wrapper failed the call instead of passing it on. */
  failed: boolean;
}

/**
 * Fault injection around a **real** vector store, for tests, chaos drills and benchmarks: counts write calls, fails the next N calls, rejects
 * calls that contain a poison id, simulates an outage (every call and `ping` throw
 * {@link BackendUnavailableError}) or adds latency. Everything else passes through unchanged.
 */
export class FaultyVectorStore extends VectorStoreWrapper {
  /** Every upsert/delete call, in order. */
  readonly calls: VectorCall[] = [];
  private failures: { remaining: number; error: () => Error } | null = null;
  private readonly poison = new Map<string, () => Error>();
  private down = false;
  /** Added to every call, ms. */
  latencyMs = 0;
  /** Probability in [0, 1] that a write call fails with a transient 503 (a random transient fault). */
  failureRate = 0;
  /** Random source for `failureRate`. */
  random: () => number = Math.random;

  /** The inner store's optional capabilities pass through; latency and outages apply to them too. */
  constructor(inner: VectorStore) {
    super(inner, () => this.delayAndCheckDown());
  }

  /** Fails the next `count` write calls with `error()` (default: a transient 500). */
  failNext(
    count: number,
    error: () => Error = () => new TransientBackendError('injected 500', { status: 500 }),
  ): void {
    this.failures = { remaining: count, error };
  }

  /** Fails every write call containing `id` (default: a permanent 400 naming the id). */
  poisonId(id: string, error?: () => Error): void {
    this.poison.set(
      id,
      error ?? (() => new PermanentBackendError(`injected 400 for ${id}`, { status: 400 })),
    );
  }

  /** Removes all poison ids. */
  curePoison(): void {
    this.poison.clear();
  }

  /** Simulates the backend being down (`true`) or back (`false`). */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** Write calls made so far (optionally only of one op, only successful ones). */
  callCount(op?: 'upsert' | 'delete', options: { includeFailed?: boolean } = {}): number {
    return this.calls.filter((c) => (!op || c.op === op) && (options.includeFailed || !c.failed)).length;
  }

  override async upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    await this.gate(
      'upsert',
      records.map((r) => r.id),
    );
    return this.inner.upsert(records, options);
  }

  override async delete(ids: readonly string[], options?: DeleteOptions): Promise<void> {
    await this.gate('delete', [...ids]);
    await this.inner.delete(ids, options);
  }

  override async ping(): Promise<void> {
    if (this.down) throw new BackendUnavailableError('injected outage', { component: this.inner.name });
    await this.inner.ping();
  }

  private async gate(op: 'upsert' | 'delete', ids: string[]): Promise<void> {
    try {
      await this.delayAndCheckDown();
      if (this.failureRate > 0 && this.random() < this.failureRate)
        throw new TransientBackendError('injected random 503', { status: 503, component: this.inner.name });
      if (this.failures && this.failures.remaining > 0) {
        this.failures.remaining--;
        throw this.failures.error();
      }
      for (const id of ids) {
        const poison = this.poison.get(id);
        if (poison) throw poison();
      }
    } catch (error) {
      this.calls.push({ op, ids, failed: true });
      throw error;
    }
    this.calls.push({ op, ids, failed: false });
  }

  protected override beforeRead(): Promise<void> {
    return this.delayAndCheckDown();
  }

  private async delayAndCheckDown(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.down) throw new BackendUnavailableError('injected outage', { component: this.inner.name });
  }
}
