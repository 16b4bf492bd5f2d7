import { type Kysely, sql } from 'kysely';

/**
 * Runs one raw SQL statement on `native`, a SQL store's `tx.native` (a Kysely instance bound to the transaction):
 * the `runStatement` of a relational contract-suite fixture (`RelationalStoreFixture.runStatement`).
 */
export function runSqlStatement(native: unknown, statement: string): Promise<unknown> {
  return sql.raw(statement).execute(native as Kysely<unknown>);
}
