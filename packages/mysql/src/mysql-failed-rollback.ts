import type { Pool, PoolConnection } from 'mysql2';

/** A `ROLLBACK` statement as the store and Kysely send it (not `ROLLBACK TO SAVEPOINT`). */
const ROLLBACK = /^\s*rollback\s*$/i;

/** Connections whose last ROLLBACK failed: {@link discardAfterFailedRollback} destroys them on release. */
const failed = new WeakSet<object>();

type Callback = (error: unknown, ...rest: unknown[]) => void;

/**
 * Makes `pool` destroy, instead of handing out again, a connection whose `ROLLBACK` failed, whoever sent it
 * (Kysely's transactions, which release the connection after a failed rollback; the store's own write paths).
 *
 * Why: such a connection may still be inside the transaction it could not end — a `KILL QUERY` that interrupted
 * its COMMIT and then its ROLLBACK, or an application's `XA START` on `uow.db`. Handed out again, its next
 * `START TRANSACTION` (or the write procedure's) would implicitly commit what the caller was told had failed
 * (MySQL docs, "Statements That Cause an Implicit Commit"), and until then it holds that transaction's locks —
 * an id's lock slot, say, making every writer of the slot's ids wait out `lockTimeoutMs`.
 */
export function discardAfterFailedRollback(pool: Pool): void {
  pool.on('connection', (connection: PoolConnection) => {
    const query = connection.query as (...args: unknown[]) => unknown;
    connection.query = function (this: PoolConnection, ...args: unknown[]) {
      const at = args.findIndex((arg) => typeof arg === 'function');
      if (typeof args[0] === 'string' && ROLLBACK.test(args[0]) && at > 0) {
        const callback = args[at] as Callback;
        args[at] = (error: unknown, ...rest: unknown[]) => {
          if (error) failed.add(connection);
          else failed.delete(connection);
          callback(error, ...rest);
        };
      }
      return query.apply(this, args);
    } as PoolConnection['query'];
    const release = connection.release;
    connection.release = function (this: PoolConnection) {
      if (!failed.has(connection)) return release.call(this);
      failed.delete(connection);
      connection.destroy();
    };
  });
}
