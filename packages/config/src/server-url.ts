/** The parts of a database server URL the service shows in logs, status and errors (no credentials). */
export interface ServerUrlParts {
  /** Host name (or `%2F…` socket directory), or `''` when the URL leaves it to a query parameter. */
  host: string;
  /** Port, or `''` for the server's default. */
  port: string;
  /** Database name, or `''` for the default. */
  database: string;
}

/** @deprecated Use {@link ServerUrlParts}. */
export type PostgresUrlParts = ServerUrlParts;

/** The URL schemes each server kind's driver accepts. */
const SCHEMES = {
  postgres: /^postgres(?:ql)?:\/\//i,
  mysql: /^(?:mysql|mariadb):\/\//i,
} as const;

/** A relational kind that is a server reached by URL. */
export type ServerKind = keyof typeof SCHEMES;

/**
 * Parses a server URL the way its driver does (WHATWG URL; for PostgreSQL an empty host is allowed, as in
 * `postgres://user@/db?host=/var/run/postgresql`), or returns `undefined` when the driver could not use it
 * (wrong scheme: `postgres://`/`postgresql://` for PostgreSQL, `mysql://`/`mariadb://` for MySQL). Never
 * echoes the input (it may hold a password).
 */
export function parseServerUrl(url: string, kind: ServerKind): ServerUrlParts | undefined {
  if (!SCHEMES[kind].test(url)) return undefined;
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
export function describeServerUrl(url: string, kind: ServerKind): string {
  const parts = parseServerUrl(url, kind);
  if (!parts) return '<unparseable URL>';
  const host = parts.host || '(default host)';
  return `${host}${parts.port ? `:${parts.port}` : ''}/${parts.database || '(default database)'}`;
}

/** {@link parseServerUrl} for PostgreSQL. */
export const parsePostgresUrl = (url: string): ServerUrlParts | undefined => parseServerUrl(url, 'postgres');

/** {@link describeServerUrl} for PostgreSQL. */
export const describePostgresUrl = (url: string): string => describeServerUrl(url, 'postgres');
