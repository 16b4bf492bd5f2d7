import { refuseUnknownKeys, ValidationError } from '@dualwrite/core';

/** Letters, digits and `_`, not starting with a digit: safe as an unquoted SQL identifier part. */
export const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks the options of a SQL store field by field, each failure a `ValidationError` naming
 * `options.<field>` and the limit, carrying the dialect's `component`.
 */
export class OptionChecks {
  constructor(readonly component: string) {}

  /**
   * The options object, holding only the store's `known` keys (see `OptionKeys` of `@dualwrite/core`): a
   * misspelled option would otherwise be ignored and its default silently used.
   * @throws {ValidationError} when `options` is not an object, or on `options.<key>` for an unknown key or a
   *   `null` value.
   */
  object<T>(options: T, known: Readonly<Record<string, true>>): T {
    if (options === null || typeof options !== 'object')
      throw new ValidationError('options', 'must be an object', { component: this.component });
    refuseUnknownKeys(options, known, 'options', this.component);
    // `null` is no option's value: it would otherwise fall through `??` to the default unnoticed.
    for (const [key, value] of Object.entries(options as object))
      if (value === null)
        throw new ValidationError(`options.${key}`, 'must be omitted for its default, not null', {
          component: this.component,
        });
    return options;
  }

  /** An integer in `min..max`. @throws {ValidationError} otherwise. */
  integer(field: string, value: unknown, min: number, max: number): number {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
      throw new ValidationError(
        `options.${field}`,
        `must be an integer in ${min}..${max}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
        {
          component: this.component,
          limit: `${min}..${max}`,
        },
      );
    return value as number;
  }

  /** A boolean. @throws {ValidationError} otherwise. */
  boolean(field: string, value: unknown): boolean {
    if (typeof value !== 'boolean')
      throw new ValidationError(`options.${field}`, `must be a boolean, got ${typeof value}`, {
        component: this.component,
      });
    return value;
  }

  /**
   * A {@link SQL_IDENTIFIER} of at most `maxLength` characters (or empty, when `allowEmpty`: a table prefix).
   * @throws {ValidationError} otherwise.
   */
  identifier(field: string, value: unknown, maxLength: number, allowEmpty = false): string {
    if (
      typeof value !== 'string' ||
      value.length > maxLength ||
      (value === '' ? !allowEmpty : !SQL_IDENTIFIER.test(value))
    )
      throw new ValidationError(
        `options.${field}`,
        `must match ${SQL_IDENTIFIER}${allowEmpty ? ' (or be empty)' : ''}, got ${JSON.stringify(value)}`,
        { component: this.component, limit: `${allowEmpty ? 0 : 1}..${maxLength} characters` },
      );
    return value;
  }

  /** A non-empty string, when given. @throws {ValidationError} otherwise. */
  optionalString(field: string, value: unknown): string | undefined {
    if (value !== undefined && (typeof value !== 'string' || value.trim() === ''))
      throw new ValidationError(`options.${field}`, 'must be a non-empty string', {
        component: this.component,
      });
    return value;
  }

  /**
   * The connection options of a server dialect: `connectionString` (a non-empty string) and/or `pool` (the
   * driver's pool options object), at least one of them.
   * @throws {ValidationError} otherwise.
   */
  server<P extends object>(options: {
    connectionString?: string;
    pool?: P;
  }): {
    connectionString: string | undefined;
    pool: P | undefined;
  } {
    const connectionString = this.optionalString('connectionString', options.connectionString);
    const { pool } = options;
    if (pool !== undefined && (pool === null || typeof pool !== 'object'))
      throw this.missing('pool', "must be the driver's pool options object");
    if (connectionString === undefined && pool === undefined)
      throw this.missing('connectionString', 'is required unless options.pool is given');
    return { connectionString, pool };
  }

  /** A required option is missing. */
  missing(field: string, what: string): ValidationError {
    return new ValidationError(`options.${field}`, what, { component: this.component });
  }
}
