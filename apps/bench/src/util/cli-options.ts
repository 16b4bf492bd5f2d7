/**
 * Option checks shared by the bench's small `node:util` `parseArgs` CLIs (the main `bench` CLI uses
 * commander's parsers in `args.ts`).
 * @packageDocumentation
 */

/**
 * `--<name>` of a `parseArgs` result as a positive integer.
 * @throws {RangeError} naming the option and the value when it is not an integer ≥ 1.
 */
export function positiveIntOption(values: Readonly<Record<string, unknown>>, name: string): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`--${name} must be a positive integer, got ${String(values[name])}`);
  return n;
}
