/** WakeSignal: sleepers wake at notify() or after their time, on the system clock and on a manual one. */
import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../src/util/clock.js';
import { WakeSignal } from '../src/util/wake-signal.js';

/** Resolves to `'woken'` if `promise` settles within `ms`, else `'asleep'`. */
function within(promise: Promise<void>, ms: number): Promise<'woken' | 'asleep'> {
  return Promise.race([
    promise.then(() => 'woken' as const),
    new Promise<'asleep'>((r) => setTimeout(() => r('asleep'), ms)),
  ]);
}

describe('WakeSignal', () => {
  it('wakes every sleeper of the system clock at notify, and only those asleep at that moment', async () => {
    const signal = new WakeSignal();
    const a = signal.wait(systemClock, 60_000);
    const b = signal.wait(systemClock, 60_000);
    expect(await within(a, 20)).toBe('asleep');
    signal.notify();
    expect(
      await within(
        Promise.all([a, b]).then(() => {}),
        1_000,
      ),
    ).toBe('woken');
    const later = signal.wait(systemClock, 60_000);
    expect(await within(later, 20)).toBe('asleep'); // the earlier notify does not carry over
    signal.notify();
    await later;
  });

  it('lets a system-clock sleeper out after its time, and a later notify still reaches the next sleeper', async () => {
    const signal = new WakeSignal();
    for (let i = 0; i < 3; i++) expect(await within(signal.wait(systemClock, 5), 1_000)).toBe('woken');
    const next = signal.wait(systemClock, 60_000);
    signal.notify();
    expect(await within(next, 1_000)).toBe('woken');
    expect(await within(signal.wait(systemClock, 0), 20)).toBe('woken');
  });

  it('wakes at most `limit` sleepers of the system clock, longest asleep first', async () => {
    const signal = new WakeSignal();
    const [first, second, third] = [0, 1, 2].map(() => signal.wait(systemClock, 60_000));
    signal.notify(1);
    expect(await within(first!, 1_000)).toBe('woken');
    expect(await within(second!, 20)).toBe('asleep');
    signal.notify(5);
    expect(
      await within(
        Promise.all([second, third]).then(() => {}),
        1_000,
      ),
    ).toBe('woken');
  });

  it('wakes sleepers of another clock through its sleep(ms, signal)', async () => {
    const clock = new ManualClock();
    const signal = new WakeSignal();
    const asleep = signal.wait(clock, 1_000);
    expect(await within(asleep, 20)).toBe('asleep');
    signal.notify();
    expect(await within(asleep, 1_000)).toBe('woken');
    const timed = signal.wait(clock, 1_000);
    clock.advance(1_000);
    expect(await within(timed, 1_000)).toBe('woken');
  });
});
