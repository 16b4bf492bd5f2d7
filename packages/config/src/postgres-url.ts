/** The parts of a PostgreSQL connection URL the service shows in logs, status and errors (no credentials). */
export interface PostgresUrlParts {
  /** Host name (or `%2F…` socket directory), or `''` when the URL leaves it to the `host` query parameter. */
  host: string;
  /** Port, or `''` for the default (5432). */
  port: string;
  /** Database name, or `''` for the default (the user's name). */
  database: string;
}

const SCHEME = /^postgres(?:ql)?:\/\//i;

/**
 * Parses a `postgres://` / `postgresql://` URL the way node-postgres does (WHATWG URL, with an empty host
 * allowed as in `postgres://user@/db?host=/var/run/postgresql`), or returns `undefined` when node-postgres
 * could not use it. Never echoes the input (it may hold a password).
 */
export function parsePostgresUrl(url: string): PostgresUrlParts | undefined {
  if (!SCHEME.test(url)) return undefined;
  let parsed: URL;
  let emptyHost = false;
  try {
    parsed = new URL(url);
  } catch {
    try {
      parsed = new URL(url.replace('@/', '@host.invalid/'));
      emptyHost = true;
    } catch {
      return undefined;
    }
  }
  return {
    host: emptyHost ? '' : parsed.hostname,
    port: parsed.port,
    database: decode(parsed.pathname.slice(1)),
  };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `host:port/database` of a URL, without user, password or query (safe to log), e.g. `db.internal:5432/app`. */
export function describePostgresUrl(url: string): string {
  const parts = parsePostgresUrl(url);
  if (!parts) return '<unparseable URL>';
  const host = parts.host || '(default host)';
  return `${host}${parts.port ? `:${parts.port}` : ''}/${parts.database || '(default database)'}`;
}
