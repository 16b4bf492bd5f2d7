/**
 * Option checks shared by the bench's small `node:util` `parseArgs` CLIs (the main `bench` CLI uses
 * commander's parsers in `args.ts`).
 * @packageDocumentation
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** The `options` of a `parseArgs` config. */
type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** What {@link commandArgs} returns for `options`: `parseArgs`'s `values`. */
export type CommandValues<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>
>['values'];

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

/**
 * The `--<option>` values of a small bench command (`node:util` `parseArgs`, strict), with `--help` / `-h`
 * printing a usage generated from `options` (each option, its default) and exiting 0, and an unknown option
 * or a missing value printed as one line with that usage, exiting 2 (instead of a stack trace).
 * @param command - the package script's name, e.g. `freshness`.
 * @param summary - one or two lines on what the command measures.
 */
export function commandArgs<const O extends OptionsConfig>(
  command: string,
  summary: string,
  options: O,
): CommandValues<O> {
  const usage = [
    `usage: pnpm --filter @dualwrite/bench ${command} [options]`,
    '',
    summary,
    '',
    'options:',
    ...Object.entries(options).map(
      ([name, o]) =>
        `  --${name}${o.type === 'string' ? ' <value>' : ''}${o.default === undefined ? '' : `  (default ${String(o.default)})`}`,
    ),
    '  -h, --help',
    '',
  ].join('\n');
  // `pnpm run <script> -- …` passes the `--` on.
  const args = process.argv.slice(process.argv[2] === '--' ? 3 : 2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n\n${usage}`);
    process.exit(2);
  }
}
