import type { RelationalStore } from '@dualwrite/core';
import type { Kysely } from 'kysely';
import { ConfigError } from '../load.js';
import type { RelationalKind, ResolvedRelational } from '../resolved.js';
import { DEFAULT_BACKEND_CONFIG, DEFAULT_PG_SCHEMA } from '../schema.js';
import { describeServerUrl } from '../server-url.js';
import { importAdapter } from './lazy-adapter.js';

/** Per-process choices that are not configuration (they depend on what the process is for). */
export interface OpenRelationalOptions {
  /**
   * SQLite: create a missing file (and its directory). Default `true`. A drain worker or an operator's
   * command passes `false`: pointed at the wrong path, it must fail, not drain an empty database for ever.
   */
  create?: boolean;
  /** SQLite: how long a writer waits for the file lock, ms (the adapter's default when absent). */
  busyTimeoutMs?: number;
  /** PostgreSQL: `application_name` of the pool's connections, shown in `pg_stat_activity`. */
  applicationName?: string;
}

/** Where the store keeps its tables, for an application that keeps its own tables next to them. */
export type RelationalStorage =
  | { readonly dialect: 'sqlite' }
  | { readonly dialect: 'postgres'; readonly schema: string }
  | { readonly dialect: 'mysql' };

/** A relational store opened by name (not yet initialised: `createDualWrite` or `init()` does that). */
export interface OpenedRelational {
  // biome-ignore lint/suspicious/noExplicitAny: the application's own tables are not known to the registry
  store: RelationalStore<Kysely<any>>;
  /** The store's Kysely instance, for the application's own reads and tables. */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  kysely(): Kysely<any>;
  storage: RelationalStorage;
  /**
   * Where it is, without credentials: `sqlite /srv/dw/dualwrite.sqlite`, `postgres db:5432/app (schema public)`,
   * `mysql db:3306/app (prefix dw_)`.
   */
  describe: string;
}

/**
 * What to open: a resolved `relational` section, or just its kind and location (`sqlitePath` for `sqlite`,
 * `url` for `postgres` and `mysql`); the rest defaults as in `DEFAULT_BACKEND_CONFIG`.
 */
export type RelationalTarget = Pick<ResolvedRelational, 'kind'> & Partial<ResolvedRelational>;

type Opener = (section: ResolvedRelational, options: OpenRelationalOptions) => Promise<OpenedRelational>;

/**
 * The relational backends by `relational.kind`. Each imports its adapter only when chosen.
 */
export const RELATIONAL_BACKENDS: { readonly [K in RelationalKind]: Opener } = {
  async sqlite(section, options) {
    const { SqliteRelationalStore } = await importAdapter(
      {
        key: 'relational.kind',
        kind: 'sqlite',
        packageName: '@dualwrite/sqlite',
        install: '@dualwrite/sqlite',
      },
      () => import('@dualwrite/sqlite'),
    );
    const store = new SqliteRelationalStore({
      path: section.sqlitePath,
      tablePrefix: section.tablePrefix,
      create: options.create ?? true,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    });
    return {
      store: store as unknown as OpenedRelational['store'],
      kysely: () => store.kysely,
      storage: { dialect: 'sqlite' },
      describe: `sqlite ${section.sqlitePath}`,
    };
  },
  async postgres(section, options) {
    const { PostgresRelationalStore } = await importAdapter(
      {
        key: 'relational.kind',
        kind: 'postgres',
        packageName: '@dualwrite/postgres',
        install: '@dualwrite/postgres pg',
      },
      () => import('@dualwrite/postgres'),
    );
    const store = new PostgresRelationalStore({
      connectionString: section.url!,
      schema: section.schema,
      tablePrefix: section.tablePrefix,
      poolSize: section.poolSize,
      ...(options.applicationName === undefined
        ? {}
        : { pool: { application_name: options.applicationName } }),
    });
    return {
      store: store as unknown as OpenedRelational['store'],
      kysely: () => store.kysely,
      storage: { dialect: 'postgres', schema: section.schema },
      describe: `postgres ${describeServerUrl(section.url!, 'postgres')} (schema ${section.schema}, prefix ${section.tablePrefix})`,
    };
  },
  async mysql(section) {
    const { MysqlRelationalStore } = await importAdapter(
      { key: 'relational.kind', kind: 'mysql', packageName: '@dualwrite/mysql', install: '@dualwrite/mysql' },
      () => import('@dualwrite/mysql'),
    );
    const store = new MysqlRelationalStore({
      connectionString: section.url!,
      tablePrefix: section.tablePrefix,
      poolSize: section.poolSize,
    });
    return {
      store: store as unknown as OpenedRelational['store'],
      kysely: () => store.kysely,
      storage: { dialect: 'mysql' },
      describe: `mysql ${describeServerUrl(section.url!, 'mysql')} (prefix ${section.tablePrefix})`,
    };
  },
};

/**
 * Opens the relational store `target.kind` names (not initialised).
 * @throws {ConfigError} when the location is missing (`relational.sqlitePath` / `relational.url`);
 *   {@link BackendPackageMissingError} when the adapter is not installed.
 */
export function openRelational(
  target: RelationalTarget,
  options: OpenRelationalOptions = {},
): Promise<OpenedRelational> {
  const defaults = DEFAULT_BACKEND_CONFIG.relational;
  const section: ResolvedRelational = {
    ...target,
    tablePrefix: target.tablePrefix ?? defaults.tablePrefix,
    poolSize: target.poolSize ?? defaults.poolSize,
    schema: target.schema ?? DEFAULT_PG_SCHEMA,
    sqlitePath: target.sqlitePath ?? '',
  };
  if (section.kind === 'sqlite' && !target.sqlitePath)
    return Promise.reject(new ConfigError('relational.sqlitePath', 'caller', 'is required for "sqlite"'));
  if (section.kind !== 'sqlite' && !target.url)
    return Promise.reject(new ConfigError('relational.url', 'caller', `is required for "${section.kind}"`));
  return RELATIONAL_BACKENDS[section.kind](section, options);
}
