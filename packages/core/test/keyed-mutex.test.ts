import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/util/clock.js';
import { KeyedMutex } from '../src/util/keyed-mutex.js';

describe('KeyedMutex', () => {
  it('runs work for one key one at a time, in call order, and other keys concurrently', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name}:start`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}:end`);
    };
    await Promise.all([
      mutex.run(['a'], step('a1', 20)),
      mutex.run(['a', 'b'], step('a2', 1)),
      mutex.run(['c'], step('c', 1)),
    ]);
    expect(log.indexOf('a1:end')).toBeLessThan(log.indexOf('a2:start'));
    expect(log.indexOf('c:end')).toBeLessThan(log.indexOf('a1:end'));
  });
  it('releases the key when the work throws', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run(['k'], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(mutex.run(['k'], async () => 'ok')).resolves.toBe('ok');
  });
});

describe('ManualClock', () => {
  it('wakes sleepers only when advanced past their deadline', async () => {
    const clock = new ManualClock(0);
    let woke = false;
    const p = clock.sleep(100).then(() => {
      woke = true;
    });
    clock.advance(99);
    await Promise.resolve();
    expect(woke).toBe(false);
    clock.advance(1);
    await p;
    expect(woke).toBe(true);
  });
});
