import {
  BACKEND_SETTINGS,
  ConfigError,
  type ConfigSources,
  type DeepPartial,
  loadConfig as loadSharedConfig,
  type Resolved,
} from '@dualwrite/config';
import { type AppConfig, AppConfigSchema, DEFAULT_CONFIG, DEMO_API_SETTINGS } from './schema.js';

export { ConfigError, type DeepPartial };

/** {@link AppConfig} with every path made absolute and backend defaults filled in. */
export type ResolvedConfig = Resolved<AppConfig>;

/**
 * Builds the service's configuration: defaults, then the JSON file (`--config` or `DUALWRITE_CONFIG`),
 * then the environment (the shared `BACKEND_SETTINGS` and {@link DEMO_API_SETTINGS}), then `overrides`.
 * @throws {ConfigError} naming the first bad key and where it came from; `embedder.kind = none` is refused
 *   (the service embeds the text of search queries).
 */
export function loadConfig(sources: ConfigSources<AppConfig> = {}): ResolvedConfig {
  return loadSharedConfig<AppConfig>(
    {
      schema: AppConfigSchema,
      defaults: DEFAULT_CONFIG,
      settings: [...BACKEND_SETTINGS, ...DEMO_API_SETTINGS],
      // The worker's section, so one file can configure both.
      ignoreSections: ['worker'],
      check(config, fail) {
        if (config.embedder.kind === 'none')
          fail('embedder.kind', 'must be "hashing" or "openai": the service embeds search queries');
      },
    },
    sources,
  );
}
