import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { type BackendConfig, DEFAULT_PG_SCHEMA } from './schema.js';
import { parseServerUrl } from './server-url.js';
import { parseSettingValue, type Setting } from './settings.js';

/** The configuration is invalid; `key` names the offending config key (and `source` where it came from). */
export class ConfigError extends Error {
  /** Dotted config key, e.g. `strategy.batchSize`. */
  readonly key: string;
  /** `env PORT`, `config file ./x.json` or `default`. */
  readonly source: string;
  constructor(key: string, source: string, message: string) {
    super(`invalid config ${key} (from ${source}): ${message}`);
    this.name = 'ConfigError';
    this.key = key;
    this.source = source;
  }
}

/** Where configuration comes from, lowest precedence first: defaults, file, environment, flags, overrides. */
export interface ConfigSources<T = unknown> {
  /** Process arguments after the script; only `--config <path>` / `-c` is read from them. */
  argv?: readonly string[];
  /** A config file given some other way (a CLI parser's `--config`); wins over `argv` and `DUALWRITE_CONFIG`. */
  configFile?: string;
  /** Environment (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Flag values by flag name without dashes (`batch-size` → `"500"`), as a CLI parser collected them. */
  flags?: Readonly<Record<string, string | undefined>>;
  /** Base for relative paths (default `process.cwd()`). */
  cwd?: string;
  /** Extra overrides applied last (tests), as a partial config. */
  overrides?: DeepPartial<T>;
}

/** A recursively partial object. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** What a process's configuration is made of. */
export interface ConfigSpec<T extends BackendConfig> {
  /** JSON Schema (TypeBox) of the whole config: `BackendSections` plus the process's own sections. */
  schema: TSchema;
  defaults: T;
  /** Environment variables and flags (`BACKEND_SETTINGS` plus the process's own). */
  settings: readonly Setting[];
  /**
   * Top-level sections of other processes that a shared config file may hold (the worker ignores the demo
   * API's `server`; the demo API ignores `worker`), dropped from the file before validation.
   */
  ignoreSections?: readonly string[];
  /** Cross-key rules of the process, after the shared ones; call `fail(key, message)` to reject. */
  check?: (config: T, fail: (key: string, message: string) => never) => void;
}

/** A config with every path made absolute and backend defaults filled in. */
export type Resolved<T extends BackendConfig> = T & {
  /** Absolute path of the config file used, if any. */
  configFile: string | undefined;
  /** Absolute; `sqlitePath` always set (`:memory:` kept), `schema` always set (default `public`). */
  relational: T['relational'] & { sqlitePath: string; schema: string };
  /** `lancedbDir` absolute and always set. */
  vector: T['vector'] & { lancedbDir: string };
  /** `pollIntervalMs` always set (default by relational backend). */
  strategy: T['strategy'] & { pollIntervalMs: number };
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(target: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(node[part])) node[part] = {};
    node = node[part] as Json;
  }
  node[parts.at(-1)!] = value;
}

/** Deep-merges `source` into `target` (objects merge, everything else replaces); records each key's origin. */
function merge(target: Json, source: Json, origin: string, origins: Map<string, string>, prefix = ''): void {
  for (const [k, v] of Object.entries(source)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObject(v) && isObject(target[k])) merge(target[k] as Json, v, origin, origins, key);
    else {
      target[k] = isObject(v) ? structuredClone(v) : v;
      origins.set(key, origin);
    }
  }
}

function sourceOf(key: string, origins: Map<string, string>): string {
  for (let k = key; k; k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '') {
    const origin = origins.get(k);
    if (origin) return origin;
  }
  return 'default';
}

/** `--config <path>` / `--config=<path>` from argv, else `DUALWRITE_CONFIG`. */
function configFileArg(argv: readonly string[], env: ConfigSources<unknown>['env']): string | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: { config: { type: 'string', short: 'c' } },
    strict: false,
    allowPositionals: true,
  });
  const fromArgs = typeof values.config === 'string' ? values.config : undefined;
  return fromArgs ?? (env?.DUALWRITE_CONFIG || undefined);
}

function readConfigFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('--config', `config file ${path}`, `cannot read it: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('--config', `config file ${path}`, `not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new ConfigError('--config', `config file ${path}`, 'must hold a JSON object');
  return parsed;
}

/** JSON pointer (`/strategy/batchSize`) → dotted key (`strategy.batchSize`). */
function pointerToKey(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function firstSchemaError(
  schema: TSchema,
  value: unknown,
  origins: Map<string, string>,
): ConfigError | undefined {
  const errors = [...Value.Errors(schema, value)];
  // Prefer the most specific error (a deeper instancePath) and skip TypeBox's "schema is false" echoes.
  const error =
    errors.find((e) => e.keyword === 'additionalProperties') ??
    errors.find((e) => e.keyword !== 'boolean' && e.keyword !== 'anyOf') ??
    errors[0];
  if (!error) return undefined;
  let key = pointerToKey(error.instancePath);
  let message = error.message;
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') {
    const extra = (params.additionalProperties as string[] | undefined)?.[0] ?? '?';
    key = key ? `${key}.${extra}` : extra;
    message = 'unknown key';
  } else if (error.keyword === 'required') {
    const missing = (params.requiredProperties as string[] | undefined)?.[0] ?? '?';
    key = key ? `${key}.${missing}` : missing;
    message = 'is required';
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  const source = sourceOf(key, origins);
  const got = getPath(value, key);
  return new ConfigError(key, source, `${message}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`);
}

function getPath(value: unknown, key: string): unknown {
  let node = value;
  for (const part of key.split('.')) {
    if (!isObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * Builds a process's configuration: `spec.defaults`, then the JSON file (`configFile`, `--config` or
 * `DUALWRITE_CONFIG`), then the environment variables of `spec.settings`, then their flags, then
 * `overrides`. Validates the result against `spec.schema`, the shared cross-key rules (PostgreSQL needs a
 * `postgres://` URL; `openai` needs a base URL and a model) and `spec.check`, and makes paths absolute.
 * @throws {ConfigError} naming the first bad key and where it came from (`env X`, `flag --x`, `config file
 *   …`, `default`); a URL that may hold a password is never echoed.
 */
export function loadConfig<T extends BackendConfig>(
  spec: ConfigSpec<T>,
  sources: ConfigSources<T> = {},
): Resolved<T> {
  const env = sources.env ?? process.env;
  const cwd = sources.cwd ?? process.cwd();
  const origins = new Map<string, string>();
  const merged = structuredClone(spec.defaults) as unknown as Json;

  const file = sources.configFile ?? configFileArg(sources.argv ?? [], env);
  const configFile = file === undefined ? undefined : resolve(cwd, file);
  if (configFile) {
    const fromFile = readConfigFile(configFile);
    for (const section of spec.ignoreSections ?? []) delete fromFile[section];
    merge(merged, fromFile, `config file ${configFile}`, origins);
  }

  for (const [layer, read] of [
    ['env', (s: Setting) => (s.env === undefined ? undefined : [env[s.env], `env ${s.env}`])],
    [
      'flags',
      (s: Setting) => (s.flag === undefined ? undefined : [sources.flags?.[s.flag], `flag --${s.flag}`]),
    ],
  ] as const) {
    const values: Json = {};
    for (const setting of spec.settings) {
      const [raw, origin] = read(setting) ?? [];
      if (raw === undefined || raw.trim() === '') continue;
      setPath(values, setting.key, parseSettingValue(raw, setting.kind));
      origins.set(setting.key, origin!);
    }
    merge(merged, values, layer, new Map());
  }
  if (sources.overrides) merge(merged, sources.overrides as Json, 'overrides', origins);

  const schemaError = firstSchemaError(spec.schema, merged, origins);
  if (schemaError) throw schemaError;
  const config = merged as unknown as T;
  const fail = (key: string, message: string): never => {
    throw new ConfigError(key, sourceOf(key, origins), message);
  };
  checkBackendKeys(config, fail);
  spec.check?.(config, fail);

  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const dataDir = abs(config.dataDir);
  const { sqlitePath } = config.relational;
  return {
    ...config,
    configFile,
    dataDir,
    relational: {
      ...config.relational,
      schema: config.relational.schema ?? DEFAULT_PG_SCHEMA,
      sqlitePath:
        sqlitePath === ':memory:' ? ':memory:' : abs(sqlitePath ?? resolve(dataDir, 'dualwrite.sqlite')),
    },
    vector: { ...config.vector, lancedbDir: abs(config.vector.lancedbDir ?? resolve(dataDir, 'lancedb')) },
    strategy: {
      ...config.strategy,
      pollIntervalMs: config.strategy.pollIntervalMs ?? (config.relational.kind === 'postgres' ? 5_000 : 200),
    },
  } as Resolved<T>;
}

/** The rules between keys of the shared sections. */
function checkBackendKeys(config: BackendConfig, fail: (key: string, message: string) => never): void {
  const { kind, url } = config.relational;
  if (kind !== 'sqlite') {
    if (!url) fail('relational.url', `is required when relational.kind is "${kind}" (set DATABASE_URL)`);
    // Not echoed: the URL may hold a password.
    if (!parseServerUrl(url!, kind))
      fail(
        'relational.url',
        (kind === 'postgres'
          ? 'must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/database'
          : 'must be a mysql:// or mariadb:// URL, e.g. mysql://user:password@host:3306/database') +
          ' (value not shown: it may hold a password)',
      );
  }
  if (config.embedder.kind === 'openai') {
    if (!config.embedder.baseUrl)
      fail('embedder.baseUrl', 'is required when embedder.kind is "openai" (set OPENAI_BASE_URL)');
    if (/^https?:\/\/[^/?#]*@/i.test(config.embedder.baseUrl!))
      fail(
        'embedder.baseUrl',
        'must not hold credentials (user:password@; value not shown): pass the key as embedder.apiKey (OPENAI_API_KEY)',
      );
    if (!config.embedder.model)
      fail('embedder.model', 'is required when embedder.kind is "openai" (set DUALWRITE_EMBEDDER_MODEL)');
  }
}

/**
 * The config with secrets masked (the password of `relational.url`, `embedder.apiKey`), for start log
 * lines and status output.
 */
export function redactConfig<T extends BackendConfig>(config: T): T {
  let url = config.relational.url;
  if (url !== undefined)
    try {
      const parsed = new URL(url);
      if (parsed.password) parsed.password = '***';
      url = parsed.toString();
    } catch {
      url = '(unparsable URL)';
    }
  return {
    ...config,
    relational: { ...config.relational, url },
    embedder: { ...config.embedder, apiKey: config.embedder.apiKey === undefined ? undefined : '***' },
  };
}
