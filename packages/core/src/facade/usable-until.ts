import { ValidationError } from '../errors.js';

/**
 * `target`, refusing every property read once `ended()` is true: a `uow.db` kept after its transaction would
 * otherwise run its queries in whatever transaction the connection holds next (on SQLite's one connection, a
 * later transaction that may roll them back, or commit them with writes they had nothing to do with). Methods
 * and getters run on `target` itself (Kysely keeps its state in private fields, which a proxy does not have);
 * what they return is not wrapped (a query builder made inside the callback and executed after it is not
 * caught).
 * Not an object: returned as is.
 * @throws {ValidationError} on `field` for any property read after `ended()`.
 */
export function usableUntil<T>(target: T, ended: () => boolean, field: string, hint: string): T {
  if (target === null || typeof target !== 'object') return target;
  return new Proxy(target as T & object, {
    get(t, key) {
      // Asked when the handle is returned from the callback (is it a promise?): answered, not refused.
      if (key === 'then') return Reflect.get(t, key, t);
      if (ended()) throw new ValidationError(field, hint);
      const value = Reflect.get(t, key, t);
      // A method runs on the target; what a getter returns is handed over as is (Kysely's `fn` is a function
      // carrying its own methods, which a bound copy would not have), and so is the constructor.
      return typeof value === 'function' && key !== 'constructor' && isMethod(t, key) ? value.bind(t) : value;
    },
  });
}

/** Whether `key` is a data property (not a getter) of `target` or its prototypes. */
function isMethod(target: object, key: PropertyKey): boolean {
  for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o)) {
    const descriptor = Object.getOwnPropertyDescriptor(o, key);
    if (descriptor) return 'value' in descriptor;
  }
  return false;
}
