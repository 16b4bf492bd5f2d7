/**
 * Mistakes a new user makes with the facade get a typed error at the call that names what to do, instead of
 * a hang or writes that are accepted and dead-lettered later.
 */
import { describe, expect, it } from 'vitest';
import {
  createDualWrite,
  type Embedder,
  HashingEmbedder,
  type UnitOfWork,
  ValidationError,
} from '../src/index.js';
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
  it('a sync-2pc writer-only process without an embedder refuses a record without an embedding at the call', async () => {
    const relational = new MemoryRelationalStore();
    const dw = await createDualWrite({
      relational,
      vector: new MemoryVectorStore({ dimension: DIM }),
      strategy: 'sync-2pc',
      deliver: false,
      driftCheck: false,
    });
    try {
      await expect(dw.put({ id: 'a', text: 'no embedding' })).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'record.embedding',
      });
      const ok = { id: 'b', text: 'x', embedding: Array(DIM).fill(0.5) };
      await expect(dw.putMany([ok, { id: 'c', text: 'no embedding' }])).rejects.toMatchObject({
        field: 'records[1].embedding',
      });
      expect((await relational.getRecords(['a', 'b', 'c'])).size, 'nothing written').toBe(0);
    } finally {
      await dw.close();
    }
  });

  it('a second facade that would close the relational store of an open one is refused at createDualWrite', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const options = {
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      driftCheck: false as const,
    };
    const first = await createDualWrite({ ...options, strategy: 'batch' });
    try {
      const error = await createDualWrite({ ...options, strategy: 'async-queue' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field: 'options.relational' });
      expect(String(error)).toMatch(/closeStores: false/);
      const otherIndex = await createDualWrite({
        ...options,
        vector: new MemoryVectorStore({ dimension: DIM }),
        strategy: 'batch',
      }).catch((e: unknown) => e);
      expect(otherIndex, 'the relational store alone shared is refused').toMatchObject({
        field: 'options.relational',
      });
      // The refused facades closed nothing: the first one still writes.
      await first.put({ id: 'a', text: 'still open' });
      // One that leaves the stores to their owner (another process modelled in this one) is allowed.
      const guest = await createDualWrite({ ...options, strategy: 'batch', closeStores: false });
      await guest.close();
      await first.put({ id: 'b', text: 'still open after the guest closed' });
    } finally {
      await first.close();
    }
    // Closed, the first facade no longer holds them (they are closed with it: a new facade needs new stores).
    const next = await createDualWrite({ ...options, strategy: 'batch' }).catch((e: unknown) => e);
    expect(next).not.toBeInstanceOf(ValidationError);
  });

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

  it.each([
    [
      'a Promise of a store (open() not awaited)',
      'vector',
      () => Promise.resolve(new MemoryVectorStore({ dimension: DIM })),
      'Promise',
    ],
    ['the options of a store', 'vector', () => ({ dimension: DIM, path: './index' }), 'no upsert'],
    ['a store class instead of an instance', 'relational', () => MemoryRelationalStore, 'function'],
    ['a plain object', 'relational', () => ({ init: async () => {} }), 'no transaction'],
    [
      'a vector store with no dimension',
      'vector',
      () => Object.assign(Object.create(MemoryVectorStore.prototype), { maxBatchSize: 10 }),
      'dimension',
    ],
  ] as const)(
    '%s as options.%s is refused at createDualWrite, saying what it is',
    async (_what, key, make, says) => {
      const error = await createDualWrite({
        relational: new MemoryRelationalStore(),
        vector: new MemoryVectorStore({ dimension: DIM }),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy: 'async-queue',
        driftCheck: false,
        [key]: make(),
      } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toMatch(new RegExp(`^options\\.${key}`));
      expect((error as ValidationError).message).toContain(says);
    },
  );

  it('a hole in a sparse putMany / deleteMany array is refused at the call, by every strategy alike (helper-52)', async () => {
    for (const strategy of ['async-queue', 'batch', 'sync-2pc'] as const) {
      const relational = new MemoryRelationalStore();
      const dw = await createDualWrite({
        relational,
        vector: new MemoryVectorStore({ dimension: DIM }),
        embedder: new HashingEmbedder({ dimension: DIM }),
        strategy,
        driftCheck: false,
      });
      try {
        const records: { id: string; text: string }[] = [];
        records[1] = { id: 'h', text: 'x' };
        await expect(dw.putMany(records), strategy).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'records[0]',
        });
        const ids: string[] = [];
        ids[2] = 'h';
        await expect(dw.deleteMany(ids), strategy).rejects.toMatchObject({
          code: 'VALIDATION',
          field: 'ids[0]',
        });
        expect((await relational.getRecords(['h'])).size, `${strategy}: nothing written`).toBe(0);
      } finally {
        await dw.close();
      }
    }
  });

  it('a Promise of an embedder is refused, naming the embedder', async () => {
    const error = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector: new MemoryVectorStore({ dimension: DIM }),
      embedder: Promise.resolve(new HashingEmbedder({ dimension: DIM })) as never,
      strategy: 'async-queue',
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'VALIDATION', field: 'embedder' });
  });

  it('a call option or record field the call does not take is refused, suggesting the one meant; nothing is written', async () => {
    const dw = await open();
    try {
      await dw.put({ id: 'blue', text: 'blue', metadata: { color: 'blue' } });
      const refused: [string, string | undefined, () => Promise<unknown>][] = [
        ['options.filters', 'filter', () => dw.search('x', { filters: { color: 'red' } } as never)],
        ['options.top', undefined, () => dw.search('x', { top: 3 } as never)],
        ['options.staleHits', undefined, () => dw.search('x', { staleHits: 'keep' } as never)],
        ['options.timeout', 'timeoutMs', () => dw.flush({ timeout: 5_000 } as never)],
        ['options.timeoutMs', undefined, () => dw.flush({ timeoutMs: -1 })],
        ['options.timeOutMs', 'timeoutMs', () => dw.awaitSynced(['blue'], { timeOutMs: 10 } as never)],
        ['options.limt', 'limit', () => dw.listDeadLetters({ limt: 5 } as never)],
        ['options.timeout', 'timeoutMs', () => dw.close({ timeout: 1_000 } as never)],
        ['record.metdata', 'metadata', () => dw.put({ id: 'r', text: 't', metdata: { a: 1 } } as never)],
        ['record.embeding', 'embedding', () => dw.put({ id: 'r', text: 't', embeding: [1] } as never)],
        ['record.vector', 'embedding', () => dw.put({ id: 'r', text: 't', vector: [1] } as never)],
        [
          'records[1].version',
          undefined,
          () => dw.putMany([{ id: 'q', text: 'q' }, { id: 'r', text: 't', version: 3 } as never]),
        ],
        [
          'record.metadata',
          undefined,
          () => dw.put({ id: 'r', text: 't', metadata: new Map([['a', 1]]) } as never),
        ],
        [
          'record.metadata',
          undefined,
          () =>
            dw.put({
              id: 'r',
              text: 't',
              metadata: new (class Tags {
                a = 1;
              })(),
            } as never),
        ],
        ['filter', undefined, () => dw.search('x', { filter: new Map() as never })],
        ['id', undefined, () => dw.delete(42 as never)],
      ];
      for (const [field, near, call] of refused) {
        const error = await call().catch((e: unknown) => e);
        expect(error, field).toMatchObject({ code: 'VALIDATION', field });
        if (near !== undefined) expect((error as Error).message, field).toContain(`did you mean "${near}"`);
      }
      // A record read back and written again after a change: refused, saying what to write instead.
      const readBack = { ...(await dw.get('blue'))!, text: 'changed' };
      await expect(dw.put(readBack as never)).rejects.toMatchObject({
        field: 'record.version',
        message: expect.stringContaining('read back by get() or search()'),
      });
      await expect(dw.listDeadLetters({ after: 5 as never })).rejects.toMatchObject({
        field: 'options.after',
      });
      expect(await dw.flush({ timeoutMs: 5_000 }), 'close was refused, not begun').toMatchObject({
        pending: 0,
      });
      expect(await dw.get('r'), 'no refused record was written').toBeUndefined();
      expect(await dw.get('q'), 'a refused batch wrote none of its records').toBeUndefined();
      // Metadata made without a prototype is a plain object too.
      const bare = Object.assign(Object.create(null) as Record<string, string>, { color: 'green' });
      await dw.put({ id: 'green', text: 'green', metadata: bare });
      expect(await dw.get('green')).toMatchObject({ metadata: { color: 'green' } });
      // With nothing pending, a zero timeout answers at once instead of timing out.
      expect(await dw.flush({ timeoutMs: 1_000 })).toMatchObject({ pending: 0 });
      expect(await dw.flush({ timeoutMs: 0 })).toMatchObject({ pending: 0 });
      expect(await dw.awaitSynced(['blue'], { timeoutMs: 0 })).toMatchObject([{ state: 'synced' }]);
    } finally {
      await dw.close({ timeoutMs: 2_000 });
    }
  });

  it('a uow kept past its transaction is refused, naming uow; a bad record inside rejects rather than throws', async () => {
    const dw = await open();
    try {
      let kept: UnitOfWork<unknown> | undefined;
      await dw.transaction(async (uow) => {
        kept = uow;
        const bad = uow.put({ id: '', text: 'x' });
        expect(bad, 'a refused record is a rejected promise').toBeInstanceOf(Promise);
        await expect(bad).rejects.toMatchObject({ code: 'VALIDATION', field: 'record.id' });
        await uow.put({ id: 'inside', text: 'kept' });
      });
      for (const call of [() => kept!.put({ id: 'after', text: 'x' }), () => kept!.delete('inside')])
        await expect(call()).rejects.toMatchObject({ code: 'VALIDATION', field: 'uow' });
      expect(await dw.get('after')).toBeUndefined();
      expect(await dw.get('inside')).toMatchObject({ text: 'kept' });
    } finally {
      await dw.close({ timeoutMs: 2_000 });
    }
  });

  it("an embedding the index says it could never find is refused at put and at search, with the index's reason", async () => {
    const vector = Object.assign(new MemoryVectorStore({ dimension: DIM }), {
      embeddingProblem: (e: readonly number[]) => (e.every((x) => x === 0) ? 'has no direction' : undefined),
    });
    const dw = await createDualWrite({
      relational: new MemoryRelationalStore(),
      vector,
      strategy: 'sync-2pc',
      driftCheck: false,
    });
    try {
      const zero = new Array<number>(DIM).fill(0);
      await expect(dw.put({ id: 'z', text: 'zero', embedding: zero })).rejects.toMatchObject({
        code: 'VALIDATION',
        field: 'record.embedding',
        message: expect.stringContaining('has no direction'),
      });
      await expect(dw.search(zero)).rejects.toMatchObject({ code: 'VALIDATION', field: 'embedding' });
      expect(await dw.get('z')).toBeUndefined();
      await dw.put({ id: 'one', text: 'one', embedding: [1, 0, 0, 0, 0, 0, 0, 0] });
      expect((await dw.search([1, 0, 0, 0, 0, 0, 0, 0])).map((h) => h.id)).toEqual(['one']);
    } finally {
      await dw.close({ timeoutMs: 2_000 });
    }
  });

  it.each([
    ['a number', 384, 'options', '{ dimension: 384 }'],
    ['a misspelled key', { dimensions: 8 }, 'options.dimensions', 'did you mean "dimension"'],
  ])('HashingEmbedder refuses %s as options', (_what, options, field, says) => {
    let error: unknown;
    try {
      new HashingEmbedder(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'VALIDATION', field });
    expect((error as Error).message).toContain(says);
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

  it('a flush that times out says when this process is not delivering, and why', async () => {
    const dw = await open();
    try {
      dw.pause();
      await dw.put({ id: 'p', text: 'paused' });
      await expect(dw.flush({ timeoutMs: 100 })).rejects.toMatchObject({
        code: 'TIMEOUT',
        message: expect.stringMatching(/1 pending; delivery is paused here \(dw\.resume\(\) resumes it\)/),
      });
      dw.resume();
      expect((await dw.flush()).pending).toBe(0);
    } finally {
      await dw.close();
    }
  });

  it('stats() after close() says the facade is closed, like every other call', async () => {
    const dw = await open();
    await dw.close();
    await expect(dw.stats()).rejects.toMatchObject({
      code: 'CLOSED',
      message: expect.stringContaining('dualwrite'),
    });
  });
});
