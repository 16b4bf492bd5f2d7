/**
 * `NotifyCoalescer` alone (no server): which writes notify in their own transaction, when the trailing `NOTIFY`
 * goes out, retries after a failed one, and what `close()` sends. The store's use of it runs against a real server
 * in `postgres-notify.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotifyCoalescer, RETRY_AFTER_FAILURE_MS } from '../src/postgres-notify-coalescer.js';

describe('NotifyCoalescer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets the first write of each window notify in its own transaction', () => {
    const coalescer = new NotifyCoalescer(5, async () => {});
    expect(coalescer.take()).toBe(true);
    vi.advanceTimersByTime(4);
    expect(coalescer.take()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(coalescer.take()).toBe(true);
    expect(coalescer.take()).toBe(false);
  });

  it("sends one trailing NOTIFY for a window's owed writes, a window after the last NOTIFY, and none when nothing is owed", async () => {
    let sent = 0;
    const coalescer = new NotifyCoalescer(5, async () => {
      sent++;
    });
    expect(coalescer.take()).toBe(true);
    for (let i = 0; i < 10; i++) {
      expect(coalescer.take()).toBe(false);
      coalescer.owed();
    }
    await vi.advanceTimersByTimeAsync(4);
    expect(sent).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toBe(1);
    // The trailing NOTIFY counts as the window's: a write right after it does not notify itself.
    expect(coalescer.take()).toBe(false);
    coalescer.owed();
    await vi.advanceTimersByTimeAsync(5);
    expect(sent).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent, 'nothing owed, nothing sent').toBe(2);
  });

  it('a write owed while the trailing NOTIFY is being sent gets one of its own after it', async () => {
    let sent = 0;
    let finish = () => {};
    const coalescer = new NotifyCoalescer(5, () => {
      sent++;
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    coalescer.take();
    coalescer.owed();
    await vi.advanceTimersByTimeAsync(5);
    expect(sent).toBe(1);
    coalescer.owed(); // committed after the trailing NOTIFY was sent: not covered by it
    await vi.advanceTimersByTimeAsync(50);
    expect(sent).toBe(1);
    finish();
    await vi.advanceTimersByTimeAsync(5);
    expect(sent).toBe(2);
    finish();
  });

  it('keeps a failed trailing NOTIFY owed and tries again after RETRY_AFTER_FAILURE_MS, not in a tight loop', async () => {
    let attempts = 0;
    const coalescer = new NotifyCoalescer(5, async () => {
      attempts++;
      if (attempts < 3) throw new Error('server down');
    });
    coalescer.take();
    coalescer.owed();
    await vi.advanceTimersByTimeAsync(5);
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(RETRY_AFTER_FAILURE_MS - 10);
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(attempts).toBe(2);
    await vi.advanceTimersByTimeAsync(RETRY_AFTER_FAILURE_MS);
    expect(attempts).toBe(3);
    await vi.advanceTimersByTimeAsync(10 * RETRY_AFTER_FAILURE_MS);
    expect(attempts, 'sent: nothing owed any more').toBe(3);
  });

  it('close() sends what is owed at once, and nothing is sent after it', async () => {
    let sent = 0;
    const coalescer = new NotifyCoalescer(60_000, async () => {
      sent++;
    });
    coalescer.take();
    coalescer.owed();
    await coalescer.close();
    expect(sent).toBe(1);
    coalescer.owed();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sent).toBe(1);
    await coalescer.close();
    expect(sent).toBe(1);
  });
});
