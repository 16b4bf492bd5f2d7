import { ValidationError } from '../errors.js';

/**
 * `{ key: true }` for every key of the options type `T`, optional ones included. Declaring a constant of this
 * type makes the compiler check the list both ways: a key missing from it, or one `T` does not have, is a
 * type error, so the list cannot drift from the interface it describes.
 *
 * @example `const KEYS: OptionKeys<BatchOptions> = { maxBatchSize: true, maxDelayMs: true, concurrency: true };`
 */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** Lower case without `_` and `-`: `lease_ms`, `LeaseMS` and `leaseMs` meet. */
function folded(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

/** Whether `a` becomes `b` by at most one inserted, deleted, replaced or swapped-with-its-neighbour character. */
function withinOneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length !== b.length) {
    const [short, long] = a.length < b.length ? [a, b] : [b, a];
    return short.slice(i) === long.slice(i + 1);
  }
  return (
    a.slice(i + 1) === b.slice(i + 1) ||
    (a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2))
  );
}

/** Unit suffixes of option names, which a key written without its unit (`timeout`, `maxText`) lacks. */
const UNIT_SUFFIXES = ['ms', 'bytes'];

/**
 * The name in `names` that `key` was probably meant to be: the same but for case, `_` and `-`, one typed
 * character away, without its unit (`timeout` for `timeoutMs`), another library's name for it (`dim`,
 * `metric`), or the only name it abbreviates (`dimen`); `undefined` when none is that close.
 */
export function nearestKey(key: string, names: readonly string[]): string | undefined {
  const k = folded(key);
  return (
    names.find((name) => folded(name) === k) ??
    names.find((name) => withinOneEdit(folded(name), k)) ??
    names.find((name) => UNIT_SUFFIXES.some((unit) => folded(name) === k + unit)) ??
    names.find((name) => OTHER_NAMES[k] === folded(name)) ??
    uniquePrefixOf(k, names)
  );
}

/**
 * Other libraries' names for an option (folded): vector stores call the dimension `dim`, the distance `metric`
 * or `space` (Chroma's collection setting is `hnsw:space`).
 */
const OTHER_NAMES: Readonly<Record<string, string>> = {
  dim: 'dimension',
  dims: 'dimension',
  metric: 'distance',
  space: 'distance',
  hnswspace: 'distance',
};

/** The one name `key` (folded, 3 characters or more) abbreviates, if exactly one starts with it. */
function uniquePrefixOf(key: string, names: readonly string[]): string | undefined {
  if (key.length < 3) return undefined;
  const matches = names.filter((name) => folded(name).startsWith(key));
  return matches.length === 1 ? matches[0] : undefined;
}

/** How {@link refuseUnknownKeys} words its error for a receiver that is not an options object. */
export interface UnknownKeyWording {
  /** What a known key is, after "is not": default `'an option'` (a record's: `'a record field'`). */
  noun?: string;
  /**
   * The end of the message for a key the receiver knows more about than its nearest name (another library's
   * name for a field, a field of something else): ` — did you mean "embedding"?`, ` (it comes with …)`.
   * `undefined`: the nearest key, if any, is suggested.
   */
  hint?: (key: string) => string | undefined;
}

/**
 * Refuses an option the receiver does not have. Without this check a misspelled option (`leaseMS`,
 * `pool_size`, `maxBatch`) is ignored and its default silently used — the setting the user wrote never takes
 * effect, and nothing says so. Keys whose value is `undefined` are let through (spreading a config with
 * unset fields is common and harmless).
 *
 * @param value - the options object (not checked for being an object here).
 * @param known - the receiver's keys (see {@link OptionKeys}).
 * @param field - path of `value` in errors, e.g. `'options'` or `'delivery'`; the error names `<field>.<key>`.
 * @param component - the component named by the error, if any.
 * @param wording - the receiver's noun and hints, when it is not an options object (see {@link UnknownKeyWording}).
 * @throws {ValidationError} on field `<field>.<key>` for the first unknown key, suggesting the known key it
 *   resembles (see {@link nearestKey}); `limit` lists the known keys.
 */
export function refuseUnknownKeys(
  value: object,
  known: Readonly<Record<string, true>>,
  field: string,
  component?: string,
  wording: UnknownKeyWording = {},
): void {
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || Object.hasOwn(known, key)) continue;
    const names = Object.keys(known);
    const near = nearestKey(key, names);
    const hint =
      wording.hint?.(key) ?? (near === undefined ? '' : ` — did you mean ${JSON.stringify(near)}?`);
    throw new ValidationError(`${field}.${key}`, `is not ${wording.noun ?? 'an option'}${hint}`, {
      ...(component === undefined ? {} : { component }),
      limit: `one of ${names.join(', ')}`,
    });
  }
}
