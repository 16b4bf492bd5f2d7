/**
 * LISTEN/NOTIFY: `subscribeOutbox` wakes listeners when another store instance commits an enqueue, survives a
 * dropped connection and a silently dead one (heartbeat), reports the NOTIFY queue usage the heartbeat reads,
 * and lets an idle drain worker with a 60 s poll interval deliver a change in well under a second. A
 * transaction sends at most one notification however many records it writes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDualWrite,
  type DualWrite,
  HashingEmbedder,
  type RecordInput,
  TimeoutError,
} from '@dualwrite/core';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { writeTestRecord } from '@dualwrite/sql/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PostgresRelationalStore } from '../src/index.js';
import { adminQuery, DATABASE_URL, holdRecordLock, testSchema, until } from './helpers.js';

const T0 = 1_700_000_000_000;

async function enqueue(store: PostgresRelationalStore, id: string, rollback = false): Promise<void> {
  await store
    .transaction(async (tx) => {
      await tx.enqueue(id, await writeTestRecord(tx, id, T0), 'upsert', T0);
      if (rollback) throw new Error('rollback');
    })
    .catch((error: unknown) => {
      if (!rollback) throw error;
    });
}

async function listenerBackends(applicationName: string): Promise<number[]> {
  const { rows } = await adminQuery<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND (query LIKE 'LISTEN%' OR query LIKE '%pg_notification_queue_usage%')`,
    [applicationName],
  );
  return rows.map((r) => r.pid);
}

/**
 * A TCP proxy to `target`, reached at `url` (`target` with the proxy's host and port). `freeze()` stops the
 * bytes of every connection open now, without closing it; `cutAtNextAnswer()` drops the next bytes the server
 * sends (to any connection) and closes that connection, so the client never reads an answer the server gave (to
 * a statement that ran, and committed, in autocommit).
 */
async function freezingProxy(
  target: URL,
): Promise<{ url: string; freeze(): void; cutAtNextAnswer(): void; close(): Promise<void> }> {
  const open = new Set<Socket>();
  let cutting = false;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => open.delete(socket));
    }
    client.pipe(upstream);
    upstream.on('data', (chunk) => {
      if (!cutting) return void client.write(chunk);
      cutting = false;
      client.destroy();
      upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    freeze() {
      for (const socket of open) {
        socket.unpipe();
        socket.pause();
        socket.removeAllListeners('data');
      }
    },
    cutAtNextAnswer() {
      cutting = true;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A one-record put of `id`. */
const put = (id: string) => ({
  op: 'put' as const,
  record: { id, text: id, metadata: {}, embedding: [1, 0] },
});

/**
 * Subscribes `listening` to the outbox, then makes one write on `writer` (it notifies in its own transaction: its
 * coalescing window's NOTIFY) and waits for its notification.
 * @returns how many times the listener was called so far.
 */
async function listenAfterOneWrite(
  writer: PostgresRelationalStore,
  listening: PostgresRelationalStore,
): Promise<() => number> {
  await writer.init();
  let calls = 0;
  await listening.subscribeOutbox(() => calls++);
  await writer.writeChanges([put('first')], T0);
  await until("the first write's notification", () => calls >= 1);
  return () => calls;
}

describe('PostgresRelationalStore.subscribeOutbox (LISTEN/NOTIFY)', () => {
  let fixture: ReturnType<typeof testSchema>;
  const stores: PostgresRelationalStore[] = [];
  const open: DualWrite[] = [];
  let dir: string | undefined;

  function store(options: Parameters<typeof fixture.store>[0] = {}) {
    const s = fixture.store(options);
    stores.push(s);
    return s;
  }

  beforeEach(() => {
    fixture = testSchema();
  });

  afterEach(async () => {
    for (const dw of open.splice(0)) await dw.close({ drain: false }).catch(() => {});
    for (const s of stores.splice(0)) await s.close();
    await fixture.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('calls the listener when another instance commits an enqueue, never for a rolled-back one', async () => {
    const listening = store();
    const writer = store();
    await listening.init();
    let calls = 0;
    const unsubscribe = await listening.subscribeOutbox(() => calls++);
    await enqueue(writer, 'rolled-back', true);
    await enqueue(writer, 'committed');
    await until('a notification', () => calls >= 1);
    // Notifications arrive in commit order and a rolled-back transaction sends none: exactly one came.
    expect(calls).toBe(1);
    await writer.enqueueRepairs(['committed'], T0);
    await until('the repair notification', () => calls >= 2);
    await unsubscribe();
    await unsubscribe();
    await enqueue(writer, 'after-unsubscribe');
    await new Promise((r) => setTimeout(r, 100));
    expect(calls, 'nothing after unsubscribe').toBe(2);
  });

  it("tells its own writes' notifications (ownWrite) from another instance's, by the notifying backend", async () => {
    const listening = store();
    const writer = store();
    await listening.init();
    const seen: boolean[] = [];
    const unsubscribe = await listening.subscribeOutbox((wakeUp) => seen.push(wakeUp.ownWrite));
    await enqueue(writer, 'theirs');
    await until("the other instance's notification", () => seen.length >= 1);
    await enqueue(listening, 'mine');
    await until('its own notification', () => seen.length >= 2);
    expect(seen).toEqual([false, true]);
    await unsubscribe();
  });

  it('reconnects after the LISTEN connection is killed, calls the listener once, and keeps listening', async () => {
    const applicationName = `dw-listen-${randomBytes(4).toString('hex')}`;
    const listening = store({ pool: { application_name: applicationName } });
    const writer = store();
    await listening.init();
    let calls = 0;
    await listening.subscribeOutbox(() => calls++);
    const [pid] = await listenerBackends(applicationName);
    expect(pid, 'the LISTEN connection is visible in pg_stat_activity').toBeDefined();
    await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
    await until('the reconnect call', () => calls >= 1);
    await until('a new LISTEN connection', async () => {
      const pids = await listenerBackends(applicationName);
      return pids.length === 1 && pids[0] !== pid;
    });
    const before = calls;
    await enqueue(writer, 'after-reconnect');
    await until('a notification after the reconnect', () => calls > before);
    await listening.close();
    await until(
      'close() closed the LISTEN connection',
      async () => (await listenerBackends(applicationName)).length === 0,
    );
  });

  it('a write whose answer was lost after it committed still wakes the listeners: the NOTIFY it left to the coalescer is owed', async () => {
    const proxy = await freezingProxy(new URL(DATABASE_URL));
    try {
      // One connection through the proxy; a window long enough that the second write cannot notify itself.
      const writer = store({ connectionString: proxy.url, poolSize: 1, notifyCoalesceMs: 1_000 });
      const calls = await listenAfterOneWrite(writer, store());
      const before = calls();
      proxy.cutAtNextAnswer();
      await expect(writer.writeChanges([put('answer-lost')], T0)).rejects.toThrow();
      const { rows } = await adminQuery(
        `SELECT version FROM "${fixture.schema}"."${writer.tableNames.outbox}" WHERE record_id = 'answer-lost'`,
      );
      expect(rows, 'the write committed although its caller saw it fail').toHaveLength(1);
      await until(
        'a trailing notification for the write whose answer was lost',
        () => calls() > before,
        5_000,
      );
    } finally {
      await proxy.close();
    }
  });

  it("writes that failed with the server's answer (a lock timeout: nothing committed) owe no NOTIFY (helper-89)", async () => {
    const writer = store({ lockTimeoutMs: 1, notifyCoalesceMs: 20 });
    const calls = await listenAfterOneWrite(writer, store());
    const held = await holdRecordLock(store(), 'held');
    try {
      const before = calls();
      // Back to back for 300 ms: in each window the first takes the right to notify (and rolls back with it),
      // the others leave theirs to the coalescer.
      let failed = 0;
      for (const started = Date.now(); Date.now() - started < 300; failed++)
        await expect(writer.writeChanges([put('held')], T0)).rejects.toMatchObject({
          code: 'TRANSIENT_BACKEND',
        });
      expect(failed).toBeGreaterThan(20);
      await new Promise((r) => setTimeout(r, 300));
      // Before, each such failure owed a NOTIFY: the listener woke about once a window while they lasted.
      expect(calls(), 'no wake-up for writes that committed nothing').toBe(before);
    } finally {
      held.release();
      await held.done;
    }
  });

  it('notices a LISTEN connection that died silently (heartbeat), reconnects and calls the listener once', async () => {
    // A TCP proxy to the server that can freeze its open connections: bytes stop flowing both ways but no
    // FIN or RST is sent, like a server restart behind a NAT or a dropped network path. New connections pass.
    const proxy = await freezingProxy(new URL(DATABASE_URL));
    try {
      const listening = store({ connectionString: proxy.url, listenHeartbeatMs: 300 });
      const writer = store();
      await listening.init();
      let calls = 0;
      await listening.subscribeOutbox(() => calls++);
      await enqueue(writer, 'before');
      await until('a notification through the proxy', () => calls >= 1);
      proxy.freeze();
      const frozenAt = Date.now();
      const before = calls;
      await enqueue(writer, 'while-frozen'); // its NOTIFY is lost on the frozen connection
      await until(
        'the heartbeat to notice and the reconnect to call the listener',
        () => calls > before,
        5_000,
      );
      const noticedMs = Date.now() - frozenAt;
      expect(listening.listenerHealth()).toMatchObject({
        subscriptions: 1,
        reconnects: 1,
        heartbeatFailures: 1,
      });
      const after = calls;
      await enqueue(writer, 'after-reconnect');
      await until('a notification on the new connection', () => calls > after);
      expect(listening.listenerHealth().listening).toBe(true);
      console.info(`[notify] a silently dead LISTEN connection was replaced ${noticedMs} ms after it froze`);
    } finally {
      await proxy.close();
    }
  });

  it('reports the NOTIFY queue usage read by the heartbeat (pg_notification_queue_usage)', async () => {
    const listening = store({ listenHeartbeatMs: 100 });
    await listening.init();
    expect(listening.listenerHealth()).toMatchObject({
      subscriptions: 0,
      notificationQueueUsage: null,
      notificationQueueUsageAt: null,
    });
    await listening.subscribeOutbox(() => {});
    const subscribedAt = Date.now();
    await until('a heartbeat', () => listening.listenerHealth().notificationQueueUsage !== null, 3_000);
    const health = listening.listenerHealth();
    expect(health.notificationQueueUsage).toBeTypeOf('number');
    expect(health.notificationQueueUsage).toBeGreaterThanOrEqual(0);
    expect(health.notificationQueueUsage).toBeLessThanOrEqual(1);
    expect(health.notificationQueueUsageAt).toBeGreaterThanOrEqual(subscribedAt);
    expect(health).toMatchObject({ listening: true, heartbeatFailures: 0, reconnects: 0 });
  });

  it('sends at most one NOTIFY per transaction, however many records it writes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dw-pg-notify-'));
    const dimension = 8;
    const writer = store();
    const dw = await createDualWrite({
      relational: writer,
      vector: await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension }),
      embedder: new HashingEmbedder({ dimension }),
      strategy: 'async-queue',
      deliver: false, // no drainer: the only notifying transactions are the writes below
    });
    open.push(dw);
    // A LISTEN client of our own on the store's channel counts what listeners receive...
    const channel = writer.tableNames.notifyChannel;
    const listener = new pg.Client({ connectionString: DATABASE_URL });
    listener.on('error', () => {});
    await listener.connect();
    let received = 0;
    // (The store's listeners' heartbeats notify too, with a payload of their own: not an enqueue's.)
    const heartbeat = (payload: unknown) => String(payload).startsWith('dualwrite-heartbeat:');
    listener.on('notification', (message) => {
      if (message.channel === channel && !heartbeat(message.payload)) received++;
    });
    await listener.query(`LISTEN ${listener.escapeIdentifier(channel)}`);
    // ... and a spy on the driver counts the statements that may notify: those naming pg_notify, and calls of
    // the write function, which notifies from inside when it wrote (PostgreSQL folds identical notifications
    // of one transaction, so what listeners receive alone would not show what the store sends).
    const query = vi.spyOn(pg.Client.prototype, 'query');
    const notifying = new RegExp(`pg_notify|"${writer.tableNames.writeFunction}"`, 'i');
    const issued = () =>
      query.mock.calls.filter(
        ([config, values]: unknown[]) =>
          notifying.test(typeof config === 'string' ? config : ((config as { text?: string })?.text ?? '')) &&
          !(Array.isArray(values) && values.some(heartbeat)),
      ).length;
    try {
      const records = (prefix: string, n: number, distinct = n): RecordInput[] =>
        Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i % distinct}`, text: `${prefix} ${i}` }));
      const transactions: [string, () => Promise<unknown>][] = [
        ['putMany of 100 records (one multi-row statement)', () => dw.putMany(records('many', 100))],
        ['putMany of 100 records over 40 ids (transaction path)', () => dw.putMany(records('dup', 100, 40))],
        [
          'a unit of work putting 100 records',
          () =>
            dw.transaction(async (uow) => {
              for (const r of records('uow', 100)) await uow.put(r);
            }),
        ],
        ['deleteMany of 100 records', () => dw.deleteMany(records('many', 100).map((r) => r.id))],
      ];
      for (const [what, write] of transactions) {
        const [issuedBefore, receivedBefore] = [issued(), received];
        await write();
        await until(`the notification of: ${what}`, () => received > receivedBefore);
        await new Promise((r) => setTimeout(r, 200)); // anything more would arrive by now
        expect(issued() - issuedBefore, `NOTIFY statements sent by: ${what}`).toBe(1);
        expect(received - receivedBefore, `notifications received for: ${what}`).toBe(1);
      }
      // A write that changes nothing enqueues nothing and notifies nobody (the function decides it wrote nothing).
      const receivedBefore = received;
      await dw.putMany(records('uow', 100));
      await new Promise((r) => setTimeout(r, 200));
      expect(received - receivedBefore, 'an unchanged putMany').toBe(0);
    } finally {
      query.mockRestore();
      await listener.end();
    }
  });

  it('coalesces NOTIFY across writes (notifyCoalesceMs): far fewer than one per write, and one after the last write committed', async () => {
    const listening = store();
    await listening.init();
    const writer = store({ notifyCoalesceMs: 20 });
    await writer.init();
    const heard: number[] = [];
    await listening.subscribeOutbox(() => heard.push(performance.now()));
    const writers = 4;
    const perWriter = 150;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++)
          await writer.writeChanges(
            [{ op: 'put', record: { id: `w${w}-${i}`, text: `t ${i}`, metadata: {}, embedding: [1, 2] } }],
            Date.now(),
          );
      }),
    );
    const lastCommitted = performance.now();
    await until('a notification after the last write', () => heard.some((t) => t >= lastCommitted), 2_000);
    // Notifications of one store come at most one per 20 ms window, plus the trailing one of each window.
    expect(heard.length).toBeLessThan((writers * perWriter) / 4);
    expect(heard.length).toBeGreaterThan(0);
    // A write that changed nothing is owed nothing.
    await new Promise((r) => setTimeout(r, 100));
    const before = heard.length;
    await writer.writeChanges(
      [{ op: 'put', record: { id: 'w0-0', text: 't 0', metadata: {}, embedding: [1, 2] } }],
      Date.now(),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(heard.length, 'an unchanged put').toBe(before);
  });

  it('a closing store sends the NOTIFY its last writes are owed (notifyCoalesceMs far off)', async () => {
    const listening = store();
    await listening.init();
    const writer = store({ notifyCoalesceMs: 60_000 });
    await writer.init();
    let heard = 0;
    await listening.subscribeOutbox(() => heard++);
    await enqueue(writer, 'first'); // a transaction: notifies in itself
    const put = (id: string) =>
      writer.writeChanges(
        [{ op: 'put', record: { id, text: id, metadata: {}, embedding: [1] } }],
        Date.now(),
      );
    await put('second'); // the window's first function write: notifies in its own transaction
    await until('the first two notifications', () => heard >= 2);
    await put('third'); // owed: the window lasts a minute
    await new Promise((r) => setTimeout(r, 300));
    expect(heard, 'the trailing NOTIFY waits for its window').toBe(2);
    await writer.close();
    await until('the trailing NOTIFY sent by close()', () => heard >= 3);
  });

  it('wakes an idle drain worker (poll interval 60 s) within the timeout; without NOTIFY it stays asleep', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dw-pg-notify-'));
    const dimension = 8;
    const embedder = new HashingEmbedder({ dimension });
    const lance = join(dir, 'lance');
    const worker = await createDualWrite({
      relational: store(),
      vector: await LanceDbVectorStore.open({ uri: lance, dimension }),
      embedder,
      strategy: 'async-queue',
      delivery: { pollIntervalMs: 60_000 },
    });
    open.push(worker);
    const api = await createDualWrite({
      relational: store(),
      vector: await LanceDbVectorStore.open({ uri: lance, dimension }),
      embedder,
      strategy: 'async-queue',
    });
    open.push(api);
    api.pause(); // the API instance only writes; the worker delivers
    // Let the worker's loops go idle, and a claim the API's drainer issued before pause() complete.
    await new Promise((r) => setTimeout(r, 300));

    const started = Date.now();
    const { version } = await api.put({ id: 'woken', text: 'delivered by the worker' });
    const [status] = await api.awaitSynced(['woken'], { timeoutMs: 3_000 });
    expect(status).toEqual({ id: 'woken', state: 'synced', version, deleted: false });
    const elapsed = Date.now() - started;
    expect(elapsed, 'well before the 60 s poll interval').toBeLessThan(3_000);
    // stats() shows the wake-ups: one subscription, listening, the heartbeat's own NOTIFY arriving.
    await until('a heartbeat', async () => (await worker.stats()).wakeUps?.notificationsDelivered != null);
    expect((await worker.stats()).wakeUps).toMatchObject({
      subscriptions: 1,
      listening: true,
      notificationsDelivered: true,
      notificationsMissed: 0,
      reconnects: 0,
    });
    expect((await worker.stats()).wakeUps?.lastNotificationAgeMs).toBeGreaterThanOrEqual(0);

    // Control: the same kind of write from a store that does not NOTIFY (written through the store itself, so
    // no second drainer exists that could deliver it) waits for the worker's next poll, 60 s away.
    await new Promise((r) => setTimeout(r, 300)); // let the worker finish its loop iteration and go idle
    await enqueue(store({ notify: false }), 'unnoticed');
    await expect(api.awaitSynced(['unnoticed'], { timeoutMs: 1_000 })).rejects.toBeInstanceOf(TimeoutError);
    console.info(
      `[notify] idle worker delivered a change ${elapsed} ms after the write (poll interval 60 s)`,
    );
  });
});
