/**
 * Rows another tool wrote into the table — values dualwrite never writes — are read, reported and repaired like
 * any other difference (helper-75): a vector component of ±Infinity or NaN passed the content comparison; metadata
 * that is `null` or not JSON threw in every check (which then found nothing else either) and in every search; a
 * foreign row with id `''` or an id holding NUL could not be deleted, and every periodic check ran a full repair.
 */
import { join } from 'node:path';
import { createDualWrite, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { connect } from '@lancedb/lancedb';
import { describe, expect, it } from 'vitest';
import { UNREADABLE_METADATA_KEY } from '../src/index.js';
import { closedAfterEach } from './helpers.js';

const DIM = 8;
const { open, dir } = closedAfterEach();

describe('rows another tool wrote', () => {
  it('non-finite vectors, unreadable metadata and unstorable-looking ids are reported and repaired', async () => {
    const base = await dir();
    const uri = join(base, 'lance');
    const relational = new SqliteRelationalStore({ path: join(base, 'source.db') });
    const vector = await open({ uri, dimension: DIM });
    const dw = await createDualWrite({
      relational,
      vector,
      embedder: new HashingEmbedder({ dimension: DIM }),
      strategy: 'batch',
      driftCheck: false,
    });
    try {
      const texts: Record<string, string> = {
        inf: 'alpha parses config files',
        nan: 'beta renders html pages',
        nul: 'gamma sends email',
        text: 'delta reads logs',
        arr: 'epsilon writes files',
      };
      await dw.putMany(Object.entries(texts).map(([id, text]) => ({ id, text, metadata: {} })));
      await dw.flush();

      const table = await (await connect(uri)).openTable('dualwrite');
      const row = async (id: string) =>
        (await table.query().where(`id = '${id}'`).toArray())[0] as Record<string, unknown>;
      const replace = async (id: string, change: Record<string, unknown>) => {
        const r = await row(id);
        await table.delete(`id = '${id}'`);
        const { vector: v, ...rest } = r;
        await table.add([{ ...rest, vector: Array.from(v as Float32Array), ...change }]);
      };
      const inf = Array.from((await row('inf')).vector as Float32Array);
      inf[0] = Number.POSITIVE_INFINITY;
      await replace('inf', { vector: inf });
      // LanceDB's `add` refuses NaN; an update with an SQL value does not.
      const nan = Array.from((await row('nan')).vector as Float32Array).map((x, i) =>
        i === 1 ? "'NaN'" : String(x),
      );
      await table.update({
        where: "id = 'nan'",
        valuesSql: {
          vector: `arrow_cast(make_array(${nan.map((x) => `CAST(${x} AS FLOAT)`).join(', ')}), 'FixedSizeList(${DIM}, Float32)')`,
        },
      });
      expect(Array.from((await row('nan')).vector as Float32Array)[1], 'the NaN landed').toBeNaN();
      await table.update({ where: "id = 'nul'", values: { metadata: 'null' } });
      await table.update({ where: "id = 'text'", values: { metadata: 'not json' } });
      await table.update({ where: "id = 'arr'", values: { metadata: '[]' } });
      const template = await row('arr');
      await table.add([
        { ...template, id: '', vector: Array.from(template.vector as Float32Array) },
        { ...template, id: 'x\u0000y', vector: Array.from(template.vector as Float32Array) },
      ]);

      expect((await vector.getRecords(['text'])).get('text')?.metadata).toEqual({
        [UNREADABLE_METADATA_KEY]: 'not json',
      });
      const found = await verifyConsistency(relational, vector);
      expect([...found.examples.mismatched].sort()).toEqual(['arr', 'inf', 'nan', 'nul', 'text']);
      expect([...found.examples.orphans].sort()).toEqual(['', 'x\u0000y']);
      const hits = await dw.search('gamma sends email', { k: 5 });
      expect(hits.map((h) => h.id)).toContain('nul');

      await dw.reconcile();
      await dw.flush();
      const after = await verifyConsistency(relational, vector);
      expect(after, JSON.stringify(after.examples)).toMatchObject({ mismatched: 0, orphans: 0, lost: 0 });
      expect(await vector.count()).toBe(5);
      expect((await dw.search(texts.inf!, { k: 1 }))[0]?.id, 'found by its own text again').toBe('inf');
      expect((await dw.search(texts.nan!, { k: 1 }))[0]?.id).toBe('nan');
      table.close();
    } finally {
      await dw.close();
    }
  });
});
