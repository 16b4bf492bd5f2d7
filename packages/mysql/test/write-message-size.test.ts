import type { Metadata } from '@dualwrite/core';
import { Kysely, MysqlDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MESSAGE_OVERHEAD, message, writeMessageBound, writeMessageBytes } from '../src/mysql-batch-write.js';
import { MysqlQueries } from '../src/mysql-queries.js';
import { mysqlTableNames } from '../src/mysql-relational-store-options.js';

// The cheap bound skips the exact count on the write path: it must never be below it.
describe('write message size', () => {
  it('the bound is at least the exact inlined size, for every kind of character and record', () => {
    const q = new MysqlQueries(mysqlTableNames('dw_'));
    const texts = [
      '',
      'plain',
      'quotes \' " \\ and \u0000\b\t\n\r\u001a',
      'é中😀'.repeat(50),
      '\\'.repeat(1_000),
    ];
    for (const text of texts)
      for (const embedding of [undefined, [], [0.5, -1, 3]])
        for (const metadata of [{}, { b: text, a: 1, c: true }] as Metadata[]) {
          const record = { id: `id ${text.slice(0, 20)}`, text, embedding, metadata };
          const values = q.recordValues({
            ...record,
            embedding: embedding ?? null,
            version: 0,
            deleted: false,
            contentHash: '',
            syncedVersion: null,
            now: 1,
          });
          expect(writeMessageBound(record)).toBeGreaterThanOrEqual(writeMessageBytes(values));
        }
  });

  it('MESSAGE_OVERHEAD covers the statements around one row, with the longest table prefix', () => {
    const q = new MysqlQueries(mysqlTableNames('p'.repeat(40)));
    const kysely = new Kysely<unknown>({ dialect: new MysqlDialect({ pool: {} as never }) });
    const values = q.recordValues({
      id: 'x',
      text: '',
      embedding: null,
      metadata: {},
      version: 0,
      deleted: false,
      contentHash: '',
      syncedVersion: null,
      now: 0,
    });
    const inlined = values.reduce<number>((sum, v) => sum + (typeof v === 'string' ? v.length + 2 : 24), 0);
    for (const last of [false, true]) {
      const batch = message(kysely, q.batchWrite([{ values, op: 'upsert' }], 0, last));
      const commit = message(
        kysely,
        q.commitWrite([values], [{ id: 'x', version: 1, op: 'upsert' }], 0, last),
      );
      for (const m of [batch, commit])
        expect(Buffer.byteLength(m.sql) + inlined, m.sql.slice(0, 80)).toBeLessThan(MESSAGE_OVERHEAD);
    }
  });
});
