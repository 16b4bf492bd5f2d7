import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Value } from 'typebox/value';
import { ENV_BINDINGS, parseEnvValue } from './env.js';
import { parsePostgresUrl } from './postgres-url.js';
import { type AppConfig, AppConfigSchema, DEFAULT_CONFIG } from './schema.js';

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

/** Where configuration comes from. */
export interface ConfigSources {
  /** Process arguments after the script (`--config path`). */
  argv?: readonly string[];
  /** Environment (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Base for relative paths (default `process.cwd()`). */
  cwd?: string;
  /** Extra overrides applied last (tests), as a partial config. */
  overrides?: DeepPartial<AppConfig>;
}

/** A recursively partial object. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** {@link AppConfig} with every path made absolute and backend defaults filled in. */
export interface ResolvedConfig extends AppConfig {
  /** Absolute path of the config file used, if any. */
  configFile: string | undefined;
  /** `schema` is always set (default {@link DEFAULT_PG_SCHEMA}); only `postgres` uses it. */
  relational: AppConfig['relational'] & { schema: string };
}

type Json = Record<string, unknown>;

/** PostgreSQL schema used when `relational.schema` is not set. */
export const DEFAULT_PG_SCHEMA = 'public';

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
function configFileArg(argv: readonly string[], env: ConfigSources['env']): string | undefined {
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

function firstSchemaError(value: unknown, origins: Map<string, string>): ConfigError | undefined {
  const errors = [...Value.Errors(AppConfigSchema, value)];
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
 * Builds the configuration: defaults, then the JSON file (`--config` or `DUALWRITE_CONFIG`), then the
 * environment variables of `ENV_BINDINGS`, then `overrides`. Validates the result against
 * {@link AppConfigSchema} and the cross-key rules, and makes paths absolute.
 * @throws {ConfigError} naming the first bad key and where it came from.
 */
export function loadConfig(sources: ConfigSources = {}): ResolvedConfig {
  const env = sources.env ?? process.env;
  const cwd = sources.cwd ?? process.cwd();
  const origins = new Map<string, string>();
  const merged = structuredClone(DEFAULT_CONFIG) as unknown as Json;

  const file = configFileArg(sources.argv ?? [], env);
  const configFile = file === undefined ? undefined : resolve(cwd, file);
  if (configFile) merge(merged, readConfigFile(configFile), `config file ${configFile}`, origins);

  const fromEnv: Json = {};
  for (const binding of ENV_BINDINGS) {
    const raw = env[binding.env];
    if (raw === undefined || raw.trim() === '') continue;
    setPath(fromEnv, binding.key, parseEnvValue(raw, binding.kind));
    origins.set(binding.key, `env ${binding.env}`);
  }
  merge(merged, fromEnv, 'env', new Map());
  if (sources.overrides) merge(merged, sources.overrides as Json, 'overrides', origins);

  const schemaError = firstSchemaError(merged, origins);
  if (schemaError) throw schemaError;
  const config = merged as unknown as AppConfig;
  checkCrossKeys(config, origins);

  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const dataDir = abs(config.dataDir);
  return {
    ...config,
    configFile,
    dataDir,
    relational: {
      ...config.relational,
      schema: config.relational.schema ?? DEFAULT_PG_SCHEMA,
      sqlitePath:
        config.relational.sqlitePath === ':memory:'
          ? ':memory:'
          : abs(config.relational.sqlitePath ?? resolve(dataDir, 'dualwrite.sqlite')),
    },
    vector: { ...config.vector, lancedbDir: abs(config.vector.lancedbDir ?? resolve(dataDir, 'lancedb')) },
  };
}

function checkCrossKeys(config: AppConfig, origins: Map<string, string>): void {
  const fail = (key: string, message: string) => {
    throw new ConfigError(key, sourceOf(key, origins), message);
  };
  if (config.relational.kind === 'postgres') {
    if (!config.relational.url)
      fail('relational.url', 'is required when relational.kind is "postgres" (set DATABASE_URL)');
    // Not echoed: the URL may hold a password.
    if (!parsePostgresUrl(config.relational.url!))
      fail(
        'relational.url',
        'must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/database ' +
          '(value not shown: it may hold a password)',
      );
  }
  if (config.embedder.kind === 'openai') {
    if (!config.embedder.baseUrl)
      fail('embedder.baseUrl', 'is required when embedder.kind is "openai" (set OPENAI_BASE_URL)');
    if (!config.embedder.model)
      fail('embedder.model', 'is required when embedder.kind is "openai" (set DUALWRITE_EMBEDDER_MODEL)');
  }
}
