/**
 * Leases, retry times and sync-2pc intent expiries are compared across processes, so every process reads them on
 * the source of truth's clock: its own corrected by the offset it measures against the database server's.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/util/clock.js';
import { SOURCE_CLOCK_DEADBAND_MS, SourceClock } from '../src/util/source-clock.js';

/**
 * A source whose clock is `offset` ms ahead of `local`, each reading taking `trips[i]` ms there and back and read
 * a quarter of the way through it (so a reading is off by a quarter of its round trip).
 */
function source(local: ManualClock, offset: () => number, trips: number[] = [0]) {
  let call = 0;
  return async () => {
    const trip = trips[call++ % trips.length]!;
    local.advance(trip / 4);
    const reading = local.now() + offset();
    local.advance((trip * 3) / 4);
    return reading;
  };
}

describe('SourceClock', () => {
  it("reads the local clock plus the source's offset, from the sample with the shortest round trip", async () => {
    const local = new ManualClock(1_000_000);
    const clock = new SourceClock(
      local,
      source(local, () => -60_000, [400, 4, 90]),
    );
    expect(clock.now()).toBe(local.now());
    const reading = await clock.measure();
    expect(reading, 'off by a quarter of 4 ms, not of 400 or 90').toEqual({
      offsetMs: -60_001,
      roundTripMs: 4,
    });
    expect(clock.now()).toBe(local.now() - 60_001);
    await clock.sleep(0);
  });

  it('takes an offset within the deadband as none, and moves only by more than it', async () => {
    const local = new ManualClock(1_000_000);
    let offset = SOURCE_CLOCK_DEADBAND_MS - 10;
    const clock = new SourceClock(
      local,
      source(local, () => offset),
    );
    await clock.measure();
    expect(clock.offsetMs, 'within the deadband').toBe(0);
    offset = 5_000;
    await clock.measure();
    expect(clock.offsetMs).toBe(5_000);
    offset = 5_000 + SOURCE_CLOCK_DEADBAND_MS - 10;
    await clock.measure();
    expect(clock.offsetMs, 'jitter does not step the clock').toBe(5_000);
    offset = 2_000;
    await clock.measure();
    expect(clock.offsetMs, 'the machine clock was stepped').toBe(2_000);
    offset = 0;
    await clock.measure();
    expect(clock.offsetMs).toBe(0);
  });

  it('takes an offset within half the round trip (its error) as none, and still corrects a larger one', async () => {
    const local = new ManualClock(1_000_000);
    let offset = 400;
    const clock = new SourceClock(
      local,
      source(local, () => offset, [1_200]),
    );
    await clock.measure();
    expect(clock.offsetMs, 'a slow link: 400 ms cannot be told from 0').toBe(0);
    expect(clock.reading?.roundTripMs).toBe(1_200);
    offset = 60_000;
    await clock.measure();
    expect(clock.offsetMs, 'a minute can, within its error').toBe(60_000 - 300);
  });

  it('keeps its offset when the source cannot be read', async () => {
    const local = new ManualClock(1_000_000);
    let fail = false;
    const clock = new SourceClock(local, async () => {
      if (fail) throw new Error('connection refused');
      return source(local, () => 30_000)();
    });
    await clock.measure();
    expect(clock.offsetMs).toBe(30_000);
    fail = true;
    await expect(clock.measure()).rejects.toThrow('connection refused');
    expect(clock.offsetMs).toBe(30_000);
  });
});

describe('SourceClock, when the local clock is stepped', () => {
  it('takes the step back out at once, and asks for a measurement once until one is made', async () => {
    const local = new ManualClock(1_000_000);
    let monotonic = 0;
    const steps: number[] = [];
    // The source keeps true time: the monotonic clock's, from where the local clock started.
    const clock = new SourceClock(local, async () => 1_000_000 + monotonic, {
      monotonic: () => monotonic,
      onStep: (before) => steps.push(before),
    });
    const start = clock.now();
    local.advance(5_000);
    monotonic += 5_000;
    expect(clock.now(), 'both clocks moved alike').toBe(start + 5_000);
    expect(steps).toEqual([]);
    local.advance(60_000); // NTP stepped the wall clock; the monotonic clock did not move
    monotonic += 0.25; // fractions of a ms: the corrected time stays whole ms
    expect(clock.now(), 'the corrected time stays continuous, in whole ms').toBe(start + 5_000);
    monotonic += 10;
    local.advance(10);
    expect(clock.now()).toBe(start + 5_010);
    expect(steps, 'reported once, with the offset before the step').toEqual([0]);
    expect(clock.offsetMs).toBe(-60_000);
    await clock.measure(); // the source agrees: the wall clock is a minute ahead now
    expect(clock.offsetMs).toBe(-60_000);
    local.advance(-60_000); // stepped back
    expect(clock.now()).toBe(start + 5_010);
    expect(steps, 'reported again after a measurement').toEqual([0, -60_000]);
    await clock.measure();
    expect(clock.offsetMs).toBe(0);
  });
});
