/**
 * Makes this process's wall clock run `skewMs` ahead of the machine's (negative: behind), as on another machine
 * whose clock is off, and optionally steps it by `step.byMs` more `step.afterMs` after this call (NTP stepping it, a
 * VM resumed): `Date.now()` and `new Date()` without arguments are shifted; `performance.now()` and
 * `process.hrtime` (the traces' monotonic clock) are not. For child processes only: it replaces the global `Date`.
 */
export function skewWallClock(skewMs: number, step?: { afterMs: number; byMs: number }): void {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const stepAt = step === undefined ? Number.POSITIVE_INFINITY : realNow() + step.afterMs;
  const shifted = () => {
    const now = realNow();
    return now + skewMs + (now >= stepAt ? step!.byMs : 0);
  };
  class SkewedDate extends RealDate {
    constructor(...args: ConstructorParameters<DateConstructor> | []) {
      if (args.length === 0) super(shifted());
      else super(...(args as ConstructorParameters<DateConstructor>));
    }
    static override now(): number {
      return shifted();
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
}
