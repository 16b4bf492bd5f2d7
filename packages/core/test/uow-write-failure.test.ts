/**
 * A `uow.put` that fails in the store rolls the whole `transaction()` back, even when the callback catches it or
 * never awaits it: on MySQL and SQLite a failed statement undoes only itself, so the record row could commit
 * without its outbox entry and the index would stay stale while every flush said done (helper-55, MariaDB: a lock
 * wait timeout on the outbox insert). The fault is injected by wrapping the reference store's transaction.
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  HashingEmbedder,
  type RelationalTx,
  STRATEGY_NAMES,
  TransientBackendError,
  ValidationError,
  verifyConsistency,
} from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

/** A reference store whose transactions fail the outbox insert of `failing` ids, after its record row was written. */
class OutboxInsertFails extends MemoryRelationalStore {
  readonly failing = new Set<string>();

  override transaction<T>(fn: (tx: RelationalTx<unknown>) => Promise<T>): Promise<T> {
    return super.transaction((tx) =>
      fn(
        new Proxy(tx, {
          get: (target, key, receiver) => {
            if (key !== 'enqueue') return Reflect.get(target, key, receiver);
            return async (id: string, ...rest: unknown[]) => {
              if (this.failing.has(id))
                throw new TransientBackendError('lock wait timeout on the outbox row', { component: 'test' });
              return (target.enqueue as (...a: unknown[]) => Promise<unknown>).call(target, id, ...rest);
            };
          },
        }),
      ),
    );
  }
}

async function setUp(strategy: (typeof STRATEGY_NAMES)[number]) {
  const relational = new OutboxInsertFails();
  const vector = new MemoryVectorStore({ dimension: DIM });
  const dw = await createDualWrite({
    relational,
    vector,
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy,
    driftCheck: false,
  });
  await dw.put({ id: 'h', text: 'original' });
  await dw.flush();
  relational.failing.add('h');
  return { dw, relational, vector };
}

describe.each(STRATEGY_NAMES)('%s: a uow write that failed in the store', (strategy) => {
  it('rolls the transaction back even when the callback caught it; the app sees the retryable error', async () => {
    const { dw, relational, vector } = await setUp(strategy);
    let caught: unknown;
    const error = await dw
      .transaction(async (uow) => {
        await uow.put({ id: 'other', text: 'written in the same transaction' });
        await uow.put({ id: 'h', text: 'changed' }).catch((e: unknown) => {
          caught = e;
        });
        return 'callback returned';
      })
      .catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(TransientBackendError);
    expect(error, 'transaction() rejects with it').toBe(caught);
    const rows = await relational.getRecords(['h', 'other']);
    expect(rows.get('h')?.text, 'the record row did not commit').toBe('original');
    expect(rows.has('other'), 'nothing of the transaction committed').toBe(false);
    await dw.flush();
    expect(await verifyConsistency(relational, vector)).toMatchObject({ lost: 0, stale: 0, orphans: 0 });
    await dw.close();
  });

  it('rolls it back when the callback never awaited the write', async () => {
    const { dw, relational } = await setUp(strategy);
    const error = await dw
      .transaction(async (uow) => {
        void uow.put({ id: 'h', text: 'changed' }).catch(() => {});
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientBackendError);
    expect((await relational.getRecords(['h'])).get('h')?.text).toBe('original');
    await dw.close();
  });

  it('a ValidationError of a uow write (nothing written) does not roll back what the callback goes on to do', async () => {
    const { dw, relational } = await setUp(strategy);
    await dw.transaction(async (uow) => {
      await expect(uow.put({ id: '', text: 'no id' })).rejects.toBeInstanceOf(ValidationError);
      await uow.put({ id: 'kept', text: 'committed' });
    });
    expect((await relational.getRecords(['kept'])).get('kept')?.text).toBe('committed');
    await dw.close();
  });
});
