/**
 * `flush`, `awaitSynced` and `close` keep their `timeoutMs` whatever is still in flight — an application
 * transaction left open, a backend that stopped answering — and refuse a timeout that is not a number at the
 * call, instead of waiting forever.
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  HashingEmbedder,
  type OutboxStats,
  TimeoutError,
  ValidationError,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** A reference store whose outbox gauges stop answering (a frozen server) while `hung`. */
class HangingGaugesStore extends MemoryRelationalStore {
  hung = false;

  override async outboxStats(now: number): Promise<OutboxStats> {
    if (this.hung) return new Promise<never>(() => {});
    return super.outboxStats(now);
  }
}

async function setUp(relational = new MemoryRelationalStore()) {
  return createDualWrite({
    relational,
    vector: new MemoryVectorStore({ dimension: DIM }),
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy: 'batch',
    delivery: { pollIntervalMs: 5 },
  });
}

/** Opens an application transaction that stays open until the returned `release` is called. */
function holdTransaction(dw: Awaited<ReturnType<typeof setUp>>) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let entered!: () => void;
  const inside = new Promise<void>((r) => {
    entered = r;
  });
  const done = dw.transaction(async (uow) => {
    await uow.put({ id: 'in-tx', text: 'written inside a transaction left open' });
    entered();
    await released;
  });
  return { inside, release, done };
}

describe('waits are bounded by their timeoutMs', () => {
  it('flush: an application transaction left open → TimeoutError, while it is still open', async () => {
    const dw = await setUp();
    const tx = holdTransaction(dw);
    await tx.inside;
    await expect(dw.flush({ timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
    tx.release();
    await tx.done;
    expect(await dw.flush()).toMatchObject({ pending: 0 });
    await dw.close();
  });

  it('flush: a timeoutMs beyond what one Node timer holds (2^31 - 1 ms) still waits, rather than time out at once (helper-90)', async () => {
    const dw = await setUp();
    const tx = holdTransaction(dw);
    await tx.inside;
    // A timer over 2^31 - 1 ms fires after 1 ms: the flush timed out at once, with 50 days left.
    const flushed = dw.flush({ timeoutMs: 50 * 24 * 3_600_000 });
    const early = await Promise.race([
      flushed.then(
        () => 'resolved',
        (error: unknown) => `rejected: ${error}`,
      ),
      new Promise((r) => setTimeout(() => r('still waiting'), 200)),
    ]);
    expect(early).toBe('still waiting');
    tx.release();
    await tx.done;
    expect(await flushed).toMatchObject({ pending: 0 });
    await dw.close();
  });

  it('close: an application transaction left open → resolves while it is still open, error reported', async () => {
    const dw = await setUp();
    const tx = holdTransaction(dw);
    await tx.inside;
    const report = await dw.close({ timeoutMs: 100 });
    expect(report.drained).toBe(false);
    expect(report.error).toBeInstanceOf(TimeoutError);
    tx.release();
    await tx.done.catch(() => {});
  });

  it('close: a source of truth that stops answering → resolves, with a TimeoutError', async () => {
    const relational = new HangingGaugesStore();
    const dw = await setUp(relational);
    await dw.put({ id: 'a', text: 'alpha' });
    relational.hung = true;
    const report = await dw.close({ timeoutMs: 100 });
    expect(report).toMatchObject({ drained: false, remaining: null, deadLetters: null });
    expect(report.error).toBeInstanceOf(TimeoutError);
  });

  it('a timeoutMs that is not a finite number, or options that are not an object, are refused at the call', async () => {
    const dw = await setUp();
    await dw.put({ id: 'a', text: 'alpha' });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '100'] as unknown as number[]) {
      await expect(dw.flush({ timeoutMs: bad })).rejects.toMatchObject({ field: 'options.timeoutMs' });
      await expect(dw.awaitSynced(['a'], { timeoutMs: bad })).rejects.toMatchObject({
        field: 'options.timeoutMs',
      });
      await expect(dw.close({ timeoutMs: bad })).rejects.toMatchObject({ field: 'options.timeoutMs' });
    }
    await expect(dw.flush(null as never)).rejects.toMatchObject({ field: 'options' });
    await expect(dw.close({ drain: 'yes' as never })).rejects.toMatchObject({ field: 'options.drain' });
    await expect(dw.awaitSynced('a' as never)).rejects.toBeInstanceOf(ValidationError);
    // Nothing was closed by the refused calls.
    expect(await dw.close({ timeoutMs: 5_000 })).toMatchObject({ drained: true, remaining: 0 });
  });
});
