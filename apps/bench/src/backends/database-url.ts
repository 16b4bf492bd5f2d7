/** The default of `--database-url` / `DATABASE_URL` (the CI server: trust auth, database `test`). */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The default of `--mysql-url` (the CI server: root without a password); each run gets its own database. */
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306';

/** `url` with its password replaced by `***` (for logs and the report). */
export function maskPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
