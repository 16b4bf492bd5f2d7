import type { Clock } from './clock.js';

/** Lets sleepers be woken early: `wait(ms)` resolves after `ms` or at the next `notify()`. */
export class WakeSignal {
  private controller = new AbortController();

  notify(): void {
    this.controller.abort();
    this.controller = new AbortController();
  }

  wait(clock: Clock, ms: number): Promise<void> {
    return clock.sleep(ms, this.controller.signal);
  }
}
