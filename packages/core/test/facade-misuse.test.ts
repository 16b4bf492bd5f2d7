/**
 * Mistakes a new user makes with the facade get a typed error at the call that names what to do, instead of
 * a hang or writes that are accepted and dead-lettered later.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, type Embedder, HashingEmbedder, ValidationError } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

function open(strategy: 'async-queue' | 'sync-2pc' = 'async-queue') {
  return createDualWrite({
    relational: new MemoryRelationalStore(),
    vector: new MemoryVectorStore({ dimension: DIM }),
    embedder: new HashingEmbedder({ dimension: DIM }),
    strategy,
    driftCheck: false,
  });
}

describe('facade misuse', () => {
  it('an embedder without maxBatchSize is refused at createDualWrite, naming the field', async () => {
    const hashing = new HashingEmbedder({ dimension: DIM });
    const embedder = { id: 'mine', dimension: DIM, embed: (t: readonly string[]) => hashing.embed(t) };
    const error = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector: new MemoryVectorStore({ dimension: DIM }),
      embedder: embedder as unknown as Embedder,
      strategy: 'batch',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'embedder.maxBatchSize' });
  });

  it.each(['async-queue', 'sync-2pc'] as const)(
    '%s: facade calls inside transaction() are refused with a typed error naming uow; flush does not hang',
    async (strategy) => {
      const dw = await open(strategy);
      try {
        const calls: [string, () => Promise<unknown>][] = [
          ['flush', () => dw.flush({ timeoutMs: 1_000 })],
          ['put', () => dw.put({ id: 'x', text: 'x' })],
          ['search', () => dw.search('x')],
          ['stats', () => dw.stats()],
          ['transaction', () => dw.transaction(async () => {})],
          ['get', () => dw.get('x')],
          ['syncStatus', () => dw.syncStatus('x')],
          ['awaitSynced', () => dw.awaitSynced(['x'])],
          ['reconcile', () => dw.reconcile({ dryRun: true })],
          ['checkIndex', () => dw.checkIndex()],
          ['listDeadLetters', () => dw.listDeadLetters()],
          ['requeueDeadLetters', () => dw.requeueDeadLetters()],
        ];
        const errors = await dw.transaction(async (uow) => {
          await uow.put({ id: 'inside', text: 'kept' });
          const out: unknown[] = [];
          for (const [, call] of calls) out.push(await call().catch((e: unknown) => e));
          return out;
        });
        for (const [i, [method]] of calls.entries()) {
          expect(errors[i], method).toBeInstanceOf(ValidationError);
          expect((errors[i] as ValidationError).message, method).toContain(
            `dw.${method}() was called inside`,
          );
        }
        // The transaction itself committed, and the facade works after it.
        await dw.flush({ timeoutMs: 5_000 });
        expect(await dw.get('inside')).toMatchObject({ text: 'kept' });
        // A timer the callback left behind runs after the transaction: not refused.
        let later: Promise<unknown> | undefined;
        await dw.transaction(async () => {
          later = new Promise((r) => setTimeout(r, 20)).then(() => dw.put({ id: 'later', text: 'after' }));
        });
        await expect(later).resolves.toMatchObject({ id: 'later', changed: true });
      } finally {
        await dw.close({ timeoutMs: 2_000 });
      }
    },
  );

  it('per-call arguments are checked at the call, naming the field', async () => {
    const dw = await open();
    try {
      await dw.put({ id: 'kept', text: 'must survive a dry run' });
      const refused: [string, () => Promise<unknown>][] = [
        ['options.dryrun', () => dw.reconcile({ dryrun: true } as never)],
        ['options.mode', () => dw.reconcile({ mode: 'bogus' } as never)],
        ['options.sampleRate', () => dw.reconcile({ mode: 'sample', sampleRate: 2 })],
        ['options.pageSize', () => dw.reconcile({ pageSize: 0 })],
        ['options', () => dw.reconcile(null as never)],
        ['options', () => dw.search('x', null as never)],
        ['options', () => dw.listDeadLetters(null as never)],
        ['ids', () => dw.requeueDeadLetters('abc' as never)],
        ['fn', () => dw.transaction('nofn' as never)],
        ['ids', () => dw.deleteMany(Array.from({ length: 10_001 }, (_, i) => `d${i}`))],
      ];
      for (const [field, call] of refused)
        await expect(call(), field).rejects.toMatchObject({ code: 'VALIDATION', field });
      expect(await dw.get('kept'), 'nothing was deleted or repaired').toMatchObject({
        text: 'must survive a dry run',
      });
    } finally {
      await dw.close({ timeoutMs: 2_000 });
    }
  });

  it('a refused createDualWrite leaves nothing running and closes the stores it was to own', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const first = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'batch',
      closeStores: false,
    });
    await first.close();
    const other = {
      id: 'other-model',
      dimension: DIM,
      maxBatchSize: 8,
      embed: async (t: readonly string[]) => t.map(() => [1, 0, 0, 0, 0, 0, 0, 0]),
    };
    await expect(
      createDualWrite({ relational, vector, embedder: other, strategy: 'batch' }),
    ).rejects.toMatchObject({
      code: 'INDEX_BINDING',
    });
    await expect(relational.getMeta('x'), 'the relational store was closed').rejects.toMatchObject({
      code: 'CLOSED',
    });
    await expect(vector.count(), 'the vector store was closed').rejects.toMatchObject({ code: 'CLOSED' });
  });
});
