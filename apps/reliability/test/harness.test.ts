/**
 * The harness checks themselves: they must flag every kind of broken guarantee (a checker that never fails
 * would make every other test in this package vacuous), and the workload must be replayable from its seed.
 */
import { join } from 'node:path';
import { createDualWrite, type DualWrite, FaultyVectorStore, HashingEmbedder } from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { planTrial } from '../src/crash-trial.js';
import { checkLastWriterWins, checkSingleWriter, WriterLedger } from '../src/ledger.js';
import { findOverlaps } from '../src/overlap.js';
import type { ChildLine } from '../src/protocol.js';
import { createWorkload, type WorkloadOp } from '../src/workload.js';
import { DIM, tempDir } from './helpers.js';

describe('workload and plans', () => {
  it('the same seed gives the same op stream and the same trial plan', () => {
    const a = createWorkload({ seed: 42, idSpace: 10, writer: 'w' });
    const b = createWorkload({ seed: 42, idSpace: 10, writer: 'w' });
    const ops = (w: typeof a) => Array.from({ length: 200 }, (_, i) => w.next(i));
    const first = ops(a);
    expect(ops(b)).toEqual(first);
    expect(new Set(first.map((o) => o.kind))).toEqual(new Set(['put', 'putMany', 'delete', 'deleteMany']));
    expect(planTrial(7, 'batch', 'chroma')).toEqual(planTrial(7, 'batch', 'chroma'));
    expect(planTrial(7, 'batch', 'chroma')).not.toEqual(planTrial(8, 'batch', 'chroma'));
  });
});

describe('findOverlaps', () => {
  it('flags two calls carrying one id at the same time, not calls that merely touch', () => {
    const call = (who: string, ids: string[], begin: number, end: number) => ({
      who,
      op: 'upsert' as const,
      ids,
      begin,
      end,
    });
    expect(
      findOverlaps([call('a', ['x', 'y'], 0, 10), call('b', ['x'], 10, 20), call('c', ['y'], 20, 30)]),
    ).toEqual([]);
    const overlaps = findOverlaps([
      call('a', ['x'], 0, 10),
      call('b', ['z', 'x'], 9, 12),
      call('c', ['x'], 30, 40),
    ]);
    expect(overlaps.map((o) => [o.id, o.first.who, o.second.who])).toEqual([['x', 'a', 'b']]);
    // A long call hides nothing: it overlaps a later short one even after an intermediate call ended.
    expect(
      findOverlaps([call('a', ['x'], 0, 100), call('b', ['x'], 1, 2), call('c', ['x'], 50, 60)]),
    ).toHaveLength(2);
  });
});

describe('checkSingleWriter / checkLastWriterWins flag broken guarantees', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  async function setup() {
    const { dir, remove } = await tempDir('dualwrite-harness-');
    cleanups.push(remove);
    const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
    const vector = new FaultyVectorStore(
      await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: DIM }),
    );
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'async-queue',
    });
    dw.pause(); // only SQL matters here
    cleanups.push(() => dw.close({ drain: false }));
    return { dw, relational };
  }

  /** Performs `op` through the facade and returns the writer's protocol lines for it. */
  async function perform(dw: DualWrite, seq: number, op: WorkloadOp, ack = true): Promise<ChildLine[]> {
    const lines: ChildLine[] = [{ t: 'intent', seq, op }];
    const results =
      op.kind === 'put'
        ? [await dw.put(op.record)]
        : op.kind === 'putMany'
          ? await dw.putMany(op.records)
          : op.kind === 'delete'
            ? [await dw.delete(op.id)]
            : await dw.deleteMany(op.ids);
    if (ack)
      lines.push({
        t: 'ack',
        seq,
        results: results.map((r) => ({ id: r.id, version: r.version, changed: r.changed })),
      });
    return lines;
  }
  const rec = (id: string, text: string) => ({ id, text, metadata: { text } });

  it('an honest history passes; tampering is flagged by kind', async () => {
    const { dw, relational } = await setup();
    const ledger = new WriterLedger();
    const apply = (lines: ChildLine[]) => {
      for (const l of lines) ledger.apply(l);
    };
    apply(await perform(dw, 0, { kind: 'put', record: rec('a', 'a0') }));
    apply(
      await perform(dw, 1, { kind: 'putMany', records: [rec('b', 'b1'), rec('c', 'c1'), rec('b', 'b1bis')] }),
    );
    apply(await perform(dw, 2, { kind: 'put', record: rec('d', 'd2') }));
    apply(await perform(dw, 3, { kind: 'delete', id: 'd' }));
    apply(await perform(dw, 4, { kind: 'put', record: rec('a', 'a4') }));
    apply([
      {
        t: 'fail',
        seq: 5,
        name: 'BackendUnavailableError',
        code: 'BACKEND_UNAVAILABLE',
        retryable: true,
        message: 'x',
      },
    ]);
    // The call in flight at the "kill" was applied: both readings are acceptable.
    apply(await perform(dw, 6, { kind: 'putMany', records: [rec('e', 'e6'), rec('f', 'f6')] }, false));
    expect(ledger).toMatchObject({ acks: 5, ackedChanges: 7, failed: 1 });
    expect(await checkSingleWriter(ledger, relational)).toEqual([]);

    // Lost write: an acknowledged record disappears.
    await dw.delete('c');
    // Wrong version / content: an acknowledged record is overwritten behind the writer's back.
    await dw.put(rec('b', 'not what was acknowledged'));
    // Undone delete: a deleted record is live again.
    await dw.put(rec('d', 'resurrected'));
    // Phantom: a record no call wrote.
    await dw.put(rec('zzz', 'phantom'));
    // Torn batch: only half of the in-flight call is there.
    await dw.delete('f');
    const kinds = (await checkSingleWriter(ledger, relational)).map((v) => `${v.kind}:${v.id ?? ''}`).sort();
    expect(kinds).toEqual([
      'lost-write:c',
      'phantom:zzz',
      'torn-batch:',
      'undone-delete:d',
      'wrong-version:b',
    ]);
  });

  it('last writer wins across writers: the highest acknowledged version must be the final state', async () => {
    const { dw, relational } = await setup();
    const w1 = new WriterLedger();
    const w2 = new WriterLedger();
    for (const l of await perform(dw, 0, { kind: 'put', record: rec('x', 'one') })) w1.apply(l);
    for (const l of await perform(dw, 0, { kind: 'put', record: rec('x', 'two') })) w2.apply(l);
    for (const l of await perform(dw, 1, { kind: 'delete', id: 'y' })) w1.apply(l); // absent: no version
    expect(await checkLastWriterWins([w1, w2], relational)).toEqual([]);
    // Roll x back to writer 1's content (as a lost update would): flagged.
    await dw.put(rec('x', 'one'));
    const violations = await checkLastWriterWins([w1, w2], relational);
    expect(violations.map((v) => v.kind)).toEqual(['wrong-version']);
  });
});
