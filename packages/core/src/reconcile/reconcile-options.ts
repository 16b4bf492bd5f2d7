import { ValidationError } from '../errors.js';
import { optionsObject } from '../util/call-options.js';
import type { OptionKeys } from '../util/option-keys.js';
import type { ReconcileOptions } from './reconciler.js';

const RECONCILE_OPTION_KEYS: OptionKeys<ReconcileOptions> = {
  mode: true,
  sampleRate: true,
  dryRun: true,
  pageSize: true,
  content: true,
  random: true,
  onProgress: true,
};

/**
 * Checks a reconcile call's options at the call: a misspelled key (`dryrun`) would otherwise be ignored and
 * run a repairing reconcile where a dry run was asked for.
 * @throws {ValidationError} naming `options.<key>`: an unknown key, a `mode` other than `'full'`/`'sample'`, a
 *   `sampleRate` outside (0, 1], a `pageSize` not an integer in 1..10,000, a non-boolean `dryRun`/`content`, a
 *   non-function `random`/`onProgress`, or options that are not an object.
 */
export function validateReconcileOptions(options: unknown): ReconcileOptions {
  const o: Record<string, unknown> = optionsObject(
    options as ReconcileOptions | undefined,
    RECONCILE_OPTION_KEYS,
  );
  const refuse = (key: string, limit: string) => {
    throw new ValidationError(`options.${key}`, `is ${JSON.stringify(o[key]) ?? String(o[key])}`, { limit });
  };
  if (o.mode !== undefined && o.mode !== 'full' && o.mode !== 'sample') refuse('mode', "'full' or 'sample'");
  if (
    o.sampleRate !== undefined &&
    !(typeof o.sampleRate === 'number' && o.sampleRate > 0 && o.sampleRate <= 1)
  )
    refuse('sampleRate', 'a number in (0, 1]');
  if (
    o.pageSize !== undefined &&
    !(Number.isInteger(o.pageSize) && (o.pageSize as number) >= 1 && (o.pageSize as number) <= 10_000)
  )
    refuse('pageSize', 'an integer in 1..10000');
  for (const key of ['dryRun', 'content'])
    if (o[key] !== undefined && typeof o[key] !== 'boolean') refuse(key, 'a boolean');
  for (const key of ['random', 'onProgress'])
    if (o[key] !== undefined && typeof o[key] !== 'function') refuse(key, 'a function');
  return o as ReconcileOptions;
}
