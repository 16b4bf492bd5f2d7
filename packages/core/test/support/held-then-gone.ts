import {
  type DeleteOptions,
  type UpsertOptions,
  type UpsertReport,
  type VectorRecord,
  type VectorStore,
  VectorStoreWrapper,
} from '../../src/index.js';

/**
 * A vector call held until {@link HeldThenGone.release}; once it has landed its caller never hears back — the
 * process that made it stopped mid-call (SIGSTOP), then died (SIGKILL) right after the write reached the index.
 */
export class HeldThenGone {
  /** The call is being held. */
  held = false;
  /** The held call reached the index. */
  landed = false;
  release!: () => void;
  readonly #released = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  /** Holds `call` until released, runs it, then never settles. */
  async run(call: () => Promise<unknown>): Promise<never> {
    this.held = true;
    await this.#released;
    await call();
    this.landed = true;
    return new Promise<never>(() => {});
  }

  /** Resolves once the held call landed. */
  async untilLanded(): Promise<void> {
    while (!this.landed) await new Promise((r) => setTimeout(r, 5));
  }
}

/** A vector store whose calls (of the ops given) carrying `id` are held, then land with nobody hearing back. */
export class FrozenCalls extends VectorStoreWrapper {
  readonly call = new HeldThenGone();
  constructor(
    inner: VectorStore,
    private readonly id: string,
    private readonly ops: readonly ('upsert' | 'delete')[],
  ) {
    super(inner);
  }
  override async upsert(
    records: readonly VectorRecord[],
    options?: UpsertOptions,
  ): Promise<UpsertReport | undefined> {
    if (!this.ops.includes('upsert') || !records.some((r) => r.id === this.id))
      return super.upsert(records, options);
    return this.call.run(() => super.upsert(records, options));
  }
  override async delete(ids: readonly string[], options?: DeleteOptions): Promise<void> {
    if (!this.ops.includes('delete') || !ids.includes(this.id)) return super.delete(ids, options);
    return this.call.run(() => super.delete(ids, options));
  }
}
