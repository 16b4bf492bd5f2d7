import { randomUUID } from 'node:crypto';
import type { OutboxWakeUp } from '@dualwrite/core';
import pg from 'pg';
import { mapPostgresError } from './postgres-errors.js';

/** Reconnect timing of {@link PostgresOutboxListener}, ms. */
export const LISTENER_RECONNECT: Readonly<{ initialMs: number; maxMs: number }> = Object.freeze({
  initialMs: 250,
  maxMs: 5_000,
});

/**
 * Heartbeat of {@link PostgresOutboxListener}, ms: right after connecting and then every `intervalMs` a
 * listener runs `SELECT pg_notification_queue_usage()` (a liveness probe that also reads
 * {@link ListenerHealth.notificationQueueUsage}); no answer within `timeoutMs` means the connection is dead
 * without having said so (a server restart or a dropped network path gives an idle LISTEN connection no
 * `error` or `end` event: node-postgres#3003), and it reconnects. Then a `NOTIFY` on the channel is sent the
 * way enqueues send theirs (on a pooled connection of the store) and the listener waits up to `timeoutMs`
 * for it to arrive ({@link ListenerHealth.notificationsDelivered}).
 */
export const LISTENER_HEARTBEAT: Readonly<{ intervalMs: number; timeoutMs: number }> = Object.freeze({
  intervalMs: 5_000,
  timeoutMs: 2_000,
});

/** What a {@link PostgresOutboxListener} has seen, for logs and `stats()`. */
export interface ListenerHealth {
  /** Connections lost and re-opened since start. */
  reconnects: number;
  /** Heartbeats that failed or timed out (each also counts as a lost connection). */
  heartbeatFailures: number;
  /** When the last notification arrived (Unix ms), or `null`. */
  lastNotificationAt: number | null;
  /** Whether a connection is open and listening now. */
  listening: boolean;
  /**
   * Fill level of the server's NOTIFY queue as of the last heartbeat: `pg_notification_queue_usage()`, the
   * fraction (0..1) of the queue's maximum size (8 GB in a standard build) taken by notifications not yet read
   * by every listening session — server-wide, all databases and channels. `null` before the first heartbeat,
   * or when the server has no such function (a PostgreSQL-compatible database; the heartbeat then runs
   * `SELECT 1`).
   *
   * Near 0 is normal. A value that keeps rising means some session that `LISTEN`s is not consuming: the queue
   * cannot be cleaned up past the oldest notification a listener still has to read, and a listener that holds
   * a transaction open receives nothing until it ends, so one idle-in-transaction listener anywhere on the
   * server blocks the cleanup. At 1 (full) every transaction that sends a `NOTIFY` fails at commit with
   * "too many notifications in the NOTIFY queue" — here that is every outbox write while `notify` is on.
   * PostgreSQL warns in the log from half full on, naming the blocking process. Source: PostgreSQL docs,
   * "NOTIFY" and "System Information Functions" (`pg_notification_queue_usage`).
   */
  notificationQueueUsage: number | null;
  /** When {@link notificationQueueUsage} was read (Unix ms), or `null`. */
  notificationQueueUsageAt: number | null;
  /**
   * Whether the last heartbeat's `NOTIFY`, sent on a pooled connection as an enqueue sends its, reached the
   * listening connection; `null` before the first heartbeat (and with the store's `notify: false`, which sends
   * no wake-ups to check). After a miss it is `true` again only once three heartbeats in a row arrived.
   * `false` means wake-ups do not reach this process and delivery waits for the drainer's poll (which then
   * starts at 200 ms and backs off to `pollIntervalMs` while idle): most often a pooler in transaction mode
   * between the store and the server (PgBouncer `pool_mode = transaction`, Supavisor's or Neon's pooled
   * endpoints), which runs the `LISTEN` on one server session and hands that session to other clients (a
   * notification then goes to whichever client holds it, or is dropped); connect the store directly or
   * through a pooler in session mode.
   */
  notificationsDelivered: boolean | null;
  /** Heartbeats whose own `NOTIFY` did not come back in time. */
  notificationsMissed: number;
}

/** Heartbeats in a row whose `NOTIFY` arrived before wake-ups count as delivered again after a miss. */
const ARRIVALS_TO_TRUST_AGAIN = 3;

/** Payload prefix of a heartbeat's own `NOTIFY`: never passed to the listener (enqueues notify with `''`). */
const PROBE_PAYLOAD_PREFIX = 'dualwrite-heartbeat:';

/**
 * One dedicated connection that `LISTEN`s on the outbox channel and calls `listener` for every notification
 * (PostgreSQL docs, "LISTEN" and "NOTIFY": a notification is delivered to every session listening on the
 * channel when the notifying transaction commits, never if it rolls back; notifications with the same
 * channel and payload raised in one transaction may be folded into one).
 *
 * On a connection error or the server closing the connection it reconnects with exponential backoff
 * ({@link LISTENER_RECONNECT}), and after each reconnect calls `listener` once, because notifications sent
 * while it was disconnected are lost. A heartbeat ({@link LISTENER_HEARTBEAT}) notices a connection that died
 * silently within seconds (TCP keep-alive is on too, but takes minutes); a dead connection is destroyed, never
 * waited on, so nothing spins. `close()` stops it for good.
 * @internal
 */
export class PostgresOutboxListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listener: (wakeUp: OutboxWakeUp) => void;
  readonly #isOwnBackend: (processId: number) => boolean;
  readonly #onError: (error: unknown) => void;
  readonly #sendNotify: ((payload: string) => Promise<unknown>) | undefined;
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs: number = LISTENER_RECONNECT.initialMs;
  #timer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #heartbeatMs: { intervalMs: number; timeoutMs: number };
  readonly #health: ListenerHealth = {
    reconnects: 0,
    heartbeatFailures: 0,
    lastNotificationAt: null,
    listening: false,
    notificationQueueUsage: null,
    notificationQueueUsageAt: null,
    notificationsDelivered: null,
    notificationsMissed: 0,
  };
  /** This listener's heartbeat payload. */
  readonly #probePayload = `${PROBE_PAYLOAD_PREFIX}${randomUUID()}`;
  /** Heartbeats in a row whose own notification arrived (see {@link ARRIVALS_TO_TRUST_AGAIN}). */
  #arrivedInARow = 0;
  /** Resolves the wait of the heartbeat in flight for its own notification. */
  #probeArrived: (() => void) | undefined;
  /** `false` once the server said it has no `pg_notification_queue_usage()`: the heartbeat runs `SELECT 1`. */
  #readQueueUsage = true;

  /**
   * @param config - connection settings (the store's pool configuration; pool-only fields are ignored).
   * @param channel - channel name, `LISTEN`ed as a quoted identifier.
   * @param listener - called for every notification and after every reconnect; exceptions are swallowed.
   * @param isOwnBackend - whether a notifying backend's process id is one of the store's own connections.
   * @param sendNotify - sends `pg_notify(channel, payload)` the way enqueues do (the store's pool), for the
   *   heartbeat's delivery check; `undefined` when enqueues send no wake-ups (nothing to check).
   * @param onError - told about connection errors (already mapped to dualwrite errors); default: ignored.
   * @param heartbeat - heartbeat timing; default {@link LISTENER_HEARTBEAT}.
   */
  constructor(
    config: pg.ClientConfig,
    channel: string,
    listener: (wakeUp: OutboxWakeUp) => void,
    isOwnBackend: (processId: number) => boolean,
    sendNotify: ((payload: string) => Promise<unknown>) | undefined,
    onError: (error: unknown) => void = () => {},
    heartbeat: { intervalMs: number; timeoutMs: number } = LISTENER_HEARTBEAT,
  ) {
    this.#config = { ...config, keepAlive: true };
    this.#heartbeatMs = heartbeat;
    this.#channel = channel;
    this.#listener = listener;
    this.#isOwnBackend = isOwnBackend;
    this.#onError = onError;
    this.#sendNotify = sendNotify;
  }

  /**
   * Opens the connection and `LISTEN`s. Resolves once listening.
   * @throws `BackendUnavailableError` (or the mapped connection error) when the first connection fails; nothing
   *   is retried then unless {@link retryLater} is called.
   */
  async start(): Promise<void> {
    await this.#connect();
  }

  /**
   * After a failed {@link start}: reports `error` to `onError` and reconnects with the usual backoff in the
   * background (`health.listening` stays `false` until then).
   */
  retryLater(error: unknown): void {
    this.#onError(error);
    this.#schedule();
  }

  /** What the listener has seen so far (a copy). */
  get health(): ListenerHealth {
    return { ...this.#health, listening: this.#client !== undefined };
  }

  /** Stops listening and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#heartbeat);
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await client.end().catch(() => {});
  }

  #connect(): Promise<void> {
    const attempt = (async () => {
      const client = new pg.Client(this.#config);
      let failed = false;
      const lost = (error: unknown) => {
        if (failed) return;
        failed = true;
        if (this.#client === client) {
          this.#client = undefined;
          clearInterval(this.#heartbeat);
        }
        client.removeAllListeners('notification');
        // Destroy the socket rather than end(): a dead peer would never answer the goodbye.
        (
          client as unknown as { connection?: { stream?: { destroy(): void } } }
        ).connection?.stream?.destroy();
        client.end().catch(() => {});
        if (!this.#closed) {
          this.#health.reconnects++;
          this.#onError(mapPostgresError(error, 'outbox LISTEN connection'));
          this.#schedule();
        }
      };
      client.on('error', lost);
      client.on('end', () => lost(new Error('Connection terminated')));
      client.on('notification', (message) => {
        if (message.channel !== this.#channel) return;
        if (message.payload?.startsWith(PROBE_PAYLOAD_PREFIX)) {
          if (message.payload === this.#probePayload) this.#probeArrived?.();
          return; // a heartbeat's (this process's or another's), not an enqueue
        }
        this.#health.lastNotificationAt = Date.now();
        this.#call(this.#isOwnBackend(message.processId));
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${client.escapeIdentifier(this.#channel)}`);
      } catch (error) {
        failed = true;
        client.end().catch(() => {});
        throw mapPostgresError(error, 'outbox LISTEN');
      }
      if (this.#closed) {
        failed = true;
        await client.end().catch(() => {});
        return;
      }
      this.#client = client;
      this.#retryMs = LISTENER_RECONNECT.initialMs;
      this.#beat(client, lost);
    })();
    this.#connecting = attempt;
    return attempt.finally(() => {
      if (this.#connecting === attempt) this.#connecting = undefined;
    });
  }

  /**
   * Starts the heartbeat of `client`, at once and then every interval: `SELECT pg_notification_queue_usage()`,
   * remembered in the health, no answer in time → `lost`; then a `NOTIFY` of its own through `sendNotify`,
   * whose arrival (or not, within the timeout) sets {@link ListenerHealth.notificationsDelivered}.
   */
  #beat(client: pg.Client, lost: (error: unknown) => void): void {
    const { intervalMs, timeoutMs } = this.#heartbeatMs;
    let busy = false;
    const beat = () => {
      if (busy || this.#client !== client) return;
      busy = true;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`LISTEN connection heartbeat: no answer in ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      Promise.race([this.#probe(client), timeout])
        .then(
          () => this.#checkDelivery(client, timeoutMs),
          (error: unknown) => {
            if (this.#client !== client) return;
            this.#health.heartbeatFailures++;
            lost(error);
          },
        )
        .finally(() => {
          clearTimeout(timer);
          busy = false;
        });
    };
    this.#heartbeat = setInterval(beat, intervalMs);
    this.#heartbeat.unref();
    beat();
  }

  /**
   * Sends this listener's own `NOTIFY` through `sendNotify` and records whether it arrived on `client` within
   * `timeoutMs` after the send returned (a notification is delivered when its transaction commits, before the
   * statement returns). A send that fails (a full NOTIFY queue, the pool busy past its timeout) records
   * nothing: it is neither a lost connection (the liveness probe just answered) nor a missed wake-up.
   */
  async #checkDelivery(client: pg.Client, timeoutMs: number): Promise<void> {
    const send = this.#sendNotify;
    if (send === undefined) return;
    const arrived = new Promise<boolean>((resolve) => {
      this.#probeArrived = () => resolve(true);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await send(this.#probePayload);
      const delivered = await Promise.race([
        arrived,
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
      if (this.#client !== client) return;
      this.#arrivedInARow = delivered ? this.#arrivedInARow + 1 : 0;
      if (!delivered) this.#health.notificationsMissed++;
      // Behind a transaction pooler a probe sometimes lands on the LISTEN session and arrives: after a miss,
      // wake-ups count as delivered again only when they keep arriving.
      const trusted =
        this.#health.notificationsMissed === 0 || this.#arrivedInARow >= ARRIVALS_TO_TRUST_AGAIN;
      this.#health.notificationsDelivered = delivered && trusted;
    } catch {
      // not sent: nothing learned
    } finally {
      clearTimeout(timer);
      this.#probeArrived = undefined;
    }
  }

  /**
   * One heartbeat query. Reads the NOTIFY queue's usage; a server without the function (SQLSTATE 42883,
   * undefined_function) answered, so the connection is alive: from then on the probe is `SELECT 1`.
   */
  async #probe(client: pg.Client): Promise<void> {
    if (!this.#readQueueUsage) {
      await client.query('SELECT 1');
      return;
    }
    try {
      const { rows } = await client.query<{ usage: number | string | null }>(
        'SELECT pg_notification_queue_usage() AS usage',
      );
      const usage = Number(rows[0]?.usage);
      if (Number.isFinite(usage)) {
        this.#health.notificationQueueUsage = usage;
        this.#health.notificationQueueUsageAt = Date.now();
      }
    } catch (error) {
      if ((error as { code?: unknown }).code !== '42883') throw error;
      this.#readQueueUsage = false;
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, LISTENER_RECONNECT.maxMs);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#connect().then(
        () => this.#call(false), // anything enqueued while disconnected was not notified
        (error: unknown) => {
          this.#onError(error);
          this.#schedule();
        },
      );
    }, delay);
    this.#timer.unref();
  }

  #call(ownWrite: boolean): void {
    try {
      this.#listener({ ownWrite });
    } catch {
      // a listener must not break the subscription
    }
  }
}
