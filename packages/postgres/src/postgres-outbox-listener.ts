import pg from 'pg';
import { mapPostgresError } from './postgres-errors.js';

/** Reconnect timing of {@link PostgresOutboxListener}, ms. */
export const LISTENER_RECONNECT: Readonly<{ initialMs: number; maxMs: number }> = Object.freeze({
  initialMs: 250,
  maxMs: 5_000,
});

/**
 * One dedicated connection that `LISTEN`s on the outbox channel and calls `listener` for every notification
 * (PostgreSQL docs, "LISTEN" and "NOTIFY": a notification is delivered to every session listening on the
 * channel when the notifying transaction commits, never if it rolls back; notifications with the same
 * channel and payload raised in one transaction may be folded into one).
 *
 * On a connection error or the server closing the connection it reconnects with exponential backoff
 * ({@link LISTENER_RECONNECT}), and after each reconnect calls `listener` once, because notifications sent
 * while it was disconnected are lost. The connection uses TCP keep-alive so a silently dropped connection is
 * noticed. `close()` stops it for good.
 * @internal
 */
export class PostgresOutboxListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listener: () => void;
  readonly #onError: (error: unknown) => void;
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs: number = LISTENER_RECONNECT.initialMs;
  #timer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;

  /**
   * @param config - connection settings (the store's pool configuration; pool-only fields are ignored).
   * @param channel - channel name, `LISTEN`ed as a quoted identifier.
   * @param listener - called for every notification and after every reconnect; exceptions are swallowed.
   * @param onError - told about connection errors (already mapped to dualwrite errors); default: ignored.
   */
  constructor(
    config: pg.ClientConfig,
    channel: string,
    listener: () => void,
    onError: (error: unknown) => void = () => {},
  ) {
    this.#config = { ...config, keepAlive: true };
    this.#channel = channel;
    this.#listener = listener;
    this.#onError = onError;
  }

  /**
   * Opens the connection and `LISTEN`s. Resolves once listening.
   * @throws `BackendUnavailableError` (or the mapped connection error) when the first connection fails;
   *   nothing is retried then.
   */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Stops listening and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
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
        if (this.#client === client) this.#client = undefined;
        client.removeAllListeners('notification');
        client.end().catch(() => {});
        if (!this.#closed) {
          this.#onError(mapPostgresError(error, 'outbox LISTEN connection'));
          this.#schedule();
        }
      };
      client.on('error', lost);
      client.on('end', () => lost(new Error('Connection terminated')));
      client.on('notification', (message) => {
        if (message.channel === this.#channel) this.#call();
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
    })();
    this.#connecting = attempt;
    return attempt.finally(() => {
      if (this.#connecting === attempt) this.#connecting = undefined;
    });
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, LISTENER_RECONNECT.maxMs);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#connect().then(
        () => this.#call(), // anything enqueued while disconnected was not notified
        (error: unknown) => {
          this.#onError(error);
          this.#schedule();
        },
      );
    }, delay);
    this.#timer.unref();
  }

  #call(): void {
    try {
      this.#listener();
    } catch {
      // a listener must not break the subscription
    }
  }
}
