/**
 * Makes this process's wall clock run `skewMs` ahead of the machine's (negative: behind), as on another machine
 * whose clock is off: `Date.now()` and `new Date()` without arguments are shifted; `performance.now()` and
 * `process.hrtime` (the traces' monotonic clock) are not. For child processes only: it replaces the global `Date`.
 */
export function skewWallClock(skewMs: number): void {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args: ConstructorParameters<DateConstructor> | []) {
      if (args.length === 0) super(realNow() + skewMs);
      else super(...(args as ConstructorParameters<DateConstructor>));
    }
    static override now(): number {
      return realNow() + skewMs;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
}
