/**
 * A user's server configured unlike the test server — every server-wide default that changes how SQL is read
 * or how sessions behave, on a private MariaDB: `sql_mode` with `NO_BACKSLASH_ESCAPES` (mysql2 escapes bound
 * values with backslashes; before the store removed the mode from its sessions, a quote in an id or a text
 * was a syntax error, and a crafted value could be read as SQL), `ANSI_QUOTES`, `PAD_CHAR_TO_FULL_LENGTH`,
 * `ONLY_FULL_GROUP_BY`; SERIALIZABLE as the default isolation; `autocommit=0`; a latin1 server default; a
 * non-UTC time zone; and a short `wait_timeout` that closes idle pooled connections. Also an operator's
 * `FLUSH TABLES WITH READ LOCK`: metadata-lock waits are bounded by `lockTimeoutMs` too (MySQL's own default is
 * a year). And three a break-it trial found writes failing or text corrupted under: MariaDB's
 * `EMPTY_STRING_IS_NULL` (a tombstone's text is `''`), `ORACLE` (`BEGIN` opens a PL/SQL block) and
 * `character-set-client-handshake = OFF` with a latin1 server (UTF-8 text stored double-encoded).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDualWrite, type StrategyName, TransientBackendError } from '@dualwrite/core';
import { relationalStoreSuite } from '@dualwrite/core/testing';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlRelationalStore } from '../src/index.js';
import { adminQuery, mysqlFactory, testDatabase } from './helpers.js';
import { type PrivateMariadb, startPrivateMariadb } from './private-mariadb.js';

const SERVER_OPTIONS = [
  '--sql-mode=ANSI_QUOTES,NO_BACKSLASH_ESCAPES,PAD_CHAR_TO_FULL_LENGTH,ONLY_FULL_GROUP_BY,STRICT_ALL_TABLES,EMPTY_STRING_IS_NULL,ORACLE',
  '--transaction-isolation=SERIALIZABLE',
  '--autocommit=0',
  '--character-set-server=latin1',
  // The server decides the connection charset, whatever the client asks for in its handshake.
  '--skip-character-set-client-handshake',
  '--collation-server=latin1_swedish_ci',
  '--default-time-zone=+05:00',
];

let server: PrivateMariadb | undefined;
const url = () => {
  if (!server) throw new Error('the private server did not start');
  return server.url;
};

beforeAll(async () => {
  server = await startPrivateMariadb(SERVER_OPTIONS);
}, 120_000);
afterAll(async () => server?.destroy());

relationalStoreSuite('mysql on a server with a user’s modes', () => mysqlFactory({ poolSize: 4 }, url())(), {
  sql: true,
});

const NASTY = [`it's`, `back\\slash`, `\\'`, `"double"`, '`tick`', '%_', 'a', 'A', 'a ', 'ß', 'ss', '😀'];

describe('the strategies on a server with a user’s modes', () => {
  for (const strategy of ['sync-2pc', 'async-queue', 'batch'] satisfies StrategyName[]) {
    it(`${strategy}: quotes and backslashes round-trip exactly, idle connections the server closed are replaced, the index equals the source`, async () => {
      const database = await testDatabase(url(), 'CHARACTER SET latin1');
      const dir = await mkdtemp(join(tmpdir(), 'dw-mysql-modes-'));
      await adminQuery('SET GLOBAL wait_timeout = 1', url());
      const relational = new MysqlRelationalStore({ connectionString: database.url, poolSize: 3 });
      const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 3 });
      const dw = await createDualWrite({ relational, vector, strategy });
      try {
        for (const [i, id] of NASTY.entries())
          await dw.put({ id, text: `first ${id}`, metadata: { id, i }, embedding: [1, i, 0] });
        await dw.flush({ timeoutMs: 20_000 });
        await new Promise((resolve) => setTimeout(resolve, 2_500)); // past wait_timeout: the server closes them
        await dw.putMany(
          NASTY.map((id, i) => ({ id, text: `second ${id}`, metadata: { id }, embedding: [i, 1, 0] })),
        );
        await dw.delete('A');
        await dw.flush({ timeoutMs: 20_000 });
        for (const id of NASTY) {
          const record = await dw.get(id);
          if (id === 'A') expect(record, 'deleted').toBeUndefined();
          else
            expect({ text: record?.text, metadata: record?.metadata }, id).toEqual({
              text: `second ${id}`,
              metadata: { id },
            });
        }
        const report = await dw.reconcile({ dryRun: true });
        expect(report).toMatchObject({
          missing: 0,
          stale: 0,
          mismatched: 0,
          orphans: 0,
          duplicates: 0,
          contentChecked: true,
        });
        expect(await vector.count()).toBe(NASTY.length - 1);
      } finally {
        await dw.close();
        await adminQuery('SET GLOBAL wait_timeout = 28800', url());
        await database.drop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('a global read lock', () => {
  for (const strategy of ['sync-2pc', 'batch'] satisfies StrategyName[])
    it(`${strategy}: a write blocked by FLUSH TABLES WITH READ LOCK fails after lockTimeoutMs with TransientBackendError, and the next one succeeds`, async () => {
      const database = await testDatabase(url());
      const dir = await mkdtemp(join(tmpdir(), 'dw-mysql-ftwrl-'));
      const relational = new MysqlRelationalStore({
        connectionString: database.url,
        poolSize: 2,
        lockTimeoutMs: 1_000,
      });
      const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 3 });
      const dw = await createDualWrite({ relational, vector, strategy });
      const operator = await createConnection({ uri: url() });
      try {
        await dw.put({ id: 'before', text: 'b', metadata: {}, embedding: [1, 0, 0] });
        await dw.flush({ timeoutMs: 20_000 });
        await operator.query('FLUSH TABLES WITH READ LOCK');
        // Released after 20 s whatever happens, so a write waiting on the lock cannot hang the test.
        const release = setTimeout(() => void operator.query('UNLOCK TABLES'), 20_000);
        const error = await dw
          .put({ id: 'blocked', text: 'x', metadata: {}, embedding: [0, 1, 0] })
          .catch((e: unknown) => e);
        clearTimeout(release);
        await operator.query('UNLOCK TABLES');
        expect(error).toBeInstanceOf(TransientBackendError);
        await dw.put({ id: 'after', text: 'a', metadata: {}, embedding: [0, 0, 1] });
        await dw.flush({ timeoutMs: 20_000 });
        expect(await dw.get('blocked'), 'the refused write left nothing').toBeUndefined();
        expect(await vector.count()).toBe(2);
      } finally {
        await operator.end();
        await dw.close();
        await database.drop();
        await rm(dir, { recursive: true, force: true });
      }
    });
});
