/**
 * The version sequence is pruned once each time the versions a store draws pass a multiple of 1,024, whatever
 * the step between them. With `auto_increment_increment = 2` (as Galera sets it) a single put's version was
 * never itself a multiple, so the table grew without bound (found by a break-it round: 3,000 rows after 3,000
 * puts, against about 2,000 with a step of 1).
 */
import { describe, expect, it } from 'vitest';
import { MysqlQueries } from '../src/mysql-queries.js';
import { mysqlTableNames } from '../src/mysql-relational-store-options.js';

/** The versions among `versions` at which a store drawing them one write at a time prunes. */
function prunedAt(versions: readonly number[]): number[] {
  const q = new MysqlQueries(mysqlTableNames('dw_'));
  return versions.filter((v) => q.pruneDue([v]));
}

describe('the version sequence prune', () => {
  it('is due once per 1,024 versions with a step of 1', () => {
    expect(prunedAt(Array.from({ length: 3_000 }, (_, i) => i + 1))).toEqual([1_024, 2_048]);
  });

  it('is due once per 1,024 versions with a step of 2 or 3 (odd versions never hit a multiple)', () => {
    expect(prunedAt(Array.from({ length: 1_500 }, (_, i) => 2 * i + 1))).toEqual([1_025, 2_049]);
    expect(prunedAt(Array.from({ length: 1_000 }, (_, i) => 3 * i + 2))).toEqual([1_025, 2_048]);
  });

  it('is due for a batch whose versions pass a multiple, even as a process first write', () => {
    const q = new MysqlQueries(mysqlTableNames('dw_'));
    expect(q.pruneDue([1_020, 1_022, 1_030])).toBe(true);
    expect(q.pruneDue([1_031, 1_040])).toBe(false);
  });
});
