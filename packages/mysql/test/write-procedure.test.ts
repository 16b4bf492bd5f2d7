/**
 * A single put or delete is one `CALL` of the write procedure `init()` installs. A user who may not create or
 * execute routines, and a procedure dropped under a running store, fall back to the batch path's two round
 * trips with the same results — never a failed write.
 */
import { randomBytes } from 'node:crypto';
import type { Change, WriteResult } from '@dualwrite/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { adminQuery, MYSQL_SERVER_URL, testDatabase } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function database() {
  const db = await testDatabase();
  cleanups.push(() => db.drop());
  return db;
}

async function store(url: string): Promise<MysqlRelationalStore> {
  const s = new MysqlRelationalStore({ connectionString: url, poolSize: 2 });
  cleanups.push(() => s.close());
  await s.init();
  return s;
}

/** The server's count of `CALL` statements so far (all sessions; the tests of a package run one at a time). */
async function calls(): Promise<number> {
  const rows = (await adminQuery("SHOW GLOBAL STATUS LIKE 'Com_call_procedure'")) as { Value: string }[];
  return Number(rows[0]!.Value);
}

async function procedures(name: string): Promise<string[]> {
  const rows = (await adminQuery(
    `SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${name}'`,
  )) as { n: string }[];
  return rows.map((r) => r.n);
}

const put = (id: string, text: string, embedding: number[] | null = [1, 0, 0]): Change => ({
  op: 'put',
  record: { id, text, metadata: { k: 1 }, ...(embedding ? { embedding } : {}) } as never,
});

/** A history of single writes: new, same (no-op), same text without an embedding (no-op), changed, deleted, deleted again, a missing id. */
async function history(s: MysqlRelationalStore) {
  const steps: Change[] = [
    put('a', 'one'),
    put('a', 'one'),
    put('a', 'one', null),
    put('a', 'two'),
    { op: 'delete', id: 'a' },
    { op: 'delete', id: 'a' },
    { op: 'delete', id: 'never' },
    put('a', 'back'),
  ];
  const out: (Omit<WriteResult, 'version'> & { version: string })[] = [];
  let first: number | undefined;
  for (const step of steps) {
    const [r] = await s.writeChanges([step], Date.now());
    first ??= r!.version!;
    // Versions relative to the first: the two databases' sequences start apart.
    out.push({ ...r!, version: r!.version === null ? 'null' : `+${r!.version - first}` });
  }
  const record = (await s.getRecords(['a'])).get('a')!;
  return { out, record: { text: record.text, embedding: record.embedding, deleted: record.deleted } };
}

describe('the write procedure', () => {
  it('init installs it; each single write is one CALL', async () => {
    const db = await database();
    const s = await store(db.url);
    expect(await procedures(db.name)).toEqual([expect.stringMatching(/^dw_write_[0-9a-f]{12}$/)]);
    const before = await calls();
    const { out } = await history(s);
    expect(await calls()).toBeGreaterThanOrEqual(before + out.length);
    expect(out.map((r) => r.changed)).toEqual([true, false, false, true, true, false, false, true]);
  });

  it('a user who may not create routines writes in two round trips, with the same results', async () => {
    const [own, limited] = [await database(), await database()];
    const user = `dw_noroutine_${randomBytes(4).toString('hex')}`;
    await adminQuery(
      `CREATE USER '${user}'@'%'; CREATE USER '${user}'@'localhost';
       GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON \`${limited.name}\`.* TO '${user}'@'%';
       GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON \`${limited.name}\`.* TO '${user}'@'localhost'`,
    );
    cleanups.push(() => adminQuery(`DROP USER '${user}'@'%'; DROP USER '${user}'@'localhost'`));
    const server = new URL(MYSQL_SERVER_URL);
    const url = `mysql://${user}@${server.host}/${limited.name}`;
    const withProcedure = await history(await store(own.url));
    const s = await store(url);
    expect(await procedures(limited.name), 'nothing installed').toEqual([]);
    const before = await calls();
    expect(await history(s)).toEqual(withProcedure);
    expect(await calls(), 'no CALL').toBe(before);
  });

  it('dropped under a running store: the next write takes two round trips; the next start installs it again', async () => {
    const db = await database();
    const s = await store(db.url);
    await s.writeChanges([put('x', 'before')], Date.now());
    const [name] = await procedures(db.name);
    await adminQuery(`DROP PROCEDURE \`${db.name}\`.\`${name}\``);
    const [r] = await s.writeChanges([put('x', 'after')], Date.now());
    expect(r).toMatchObject({ id: 'x', changed: true });
    expect((await s.getRecords(['x'])).get('x')?.text).toBe('after');
    expect((await s.getOutboxEntry('x'))?.version).toBe(r!.version);
    await store(db.url);
    expect(await procedures(db.name)).toEqual([name]);
  });
});
