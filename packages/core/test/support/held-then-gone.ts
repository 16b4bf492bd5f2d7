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
