import { ValidationError } from '../errors.js';

/**
 * `target`, refusing every property read once `ended()` is true: a `uow.db` kept after its transaction would
 * otherwise run its queries in whatever transaction the connection holds next (on SQLite's one connection, a
 * later transaction that may roll them back, or commit them with writes they had nothing to do with). Methods
 * and getters run on `target` itself (Kysely keeps its state in private fields, which a proxy does not have).
 * Not an object: returned as is.
 * @throws {ValidationError} on `field` for any property read after `ended()`.
 */
export function usableUntil<T>(target: T, ended: () => boolean, field: string, hint: string): T {
  if (target === null || typeof target !== 'object') return target;
  return new Proxy(target as T & object, {
    get(t, key) {
      if (ended()) throw new ValidationError(field, hint);
      const value = Reflect.get(t, key, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}
