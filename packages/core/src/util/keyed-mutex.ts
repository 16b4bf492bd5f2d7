/** Serialises async work per key (in this process): work for one key runs one at a time, in call order. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier holder of any of `keys` has finished. */
  async run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const previous = unique.map((k) => this.tails.get(k) ?? Promise.resolve());
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (const k of unique) this.tails.set(k, mine);
    try {
      await Promise.all(previous);
      return await fn();
    } finally {
      release();
      for (const k of unique) if (this.tails.get(k) === mine) this.tails.delete(k);
    }
  }
}
