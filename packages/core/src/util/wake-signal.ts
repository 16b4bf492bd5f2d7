import type { Clock } from './clock.js';

/**
 * Lets sleepers be woken early: `wait(ms)` resolves after `ms` or at the next `notify()`. A `notify()`
 * with nobody waiting costs nothing (it is on every write's path).
 */
const WOKEN = Symbol('woken');

export class WakeSignal {
  private controller: AbortController | null = null;

  notify(): void {
    const waiting = this.controller;
    if (!waiting) return;
    this.controller = null;
    waiting.abort(WOKEN); // an explicit reason skips building a DOMException
  }

  wait(clock: Clock, ms: number): Promise<void> {
    this.controller ??= new AbortController();
    return clock.sleep(ms, this.controller.signal);
  }
}
