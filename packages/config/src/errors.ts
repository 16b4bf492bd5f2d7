/**
 * A backend named by the config cannot be used at start (e.g. the PostgreSQL server is unreachable or refuses
 * the connection). The message names the config key to check; `cause` is the driver's error.
 */
export class BackendStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendStartError';
  }
}

/**
 * The config names a backend whose adapter package is not installed (the registry imports adapters
 * lazily, so a project installs only the ones it uses). The message names the config key and the
 * `npm install` line.
 */
export class BackendPackageMissingError extends Error {
  /** Dotted config key that chose the backend, e.g. `vector.kind`. */
  readonly key: string;
  /** The missing package, e.g. `@dualwrite/chroma`. */
  readonly packageName: string;
  constructor(
    key: string,
    kind: string,
    packageName: string,
    install: string,
    options?: { cause?: unknown },
  ) {
    super(`${key} is "${kind}", which needs ${packageName}: npm install ${install}`, options);
    this.name = 'BackendPackageMissingError';
    this.key = key;
    this.packageName = packageName;
  }
}

/**
 * `error`'s message for a process that could not start, with the setting that changes the outcome where the
 * library's error names only its code option: an index binding that is not this configuration's
 * (`IndexBindingError`, code `INDEX_BINDING`, told by its code so a second installed copy of the library is
 * recognised too) gets how to move the binding from a config (`vector.indexBinding`).
 */
export function startErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: unknown } | null)?.code !== 'INDEX_BINDING') return message;
  const fields = (error as { fields?: unknown }).fields;
  const embedderDiffers = Array.isArray(fields) && fields.includes('embedder');
  // No embedder here for a source bound to one: the library's message says what to configure; a rebind cannot help.
  if (embedderDiffers && (error as { configured?: { embedder?: unknown } }).configured?.embedder === null)
    return message;
  const fix =
    `${message}. From a config: vector.indexBinding "rebind" (DUALWRITE_INDEX_BINDING=rebind, ` +
    '--index-binding rebind) moves the binding to the configured index and repairs it from the source of truth';
  // The operator CLI runs no embedder, so its rebind cannot record an embedder change (a break-it round: it
  // kept the old embedder, and this message sent the operator back to the same command).
  if (embedderDiffers)
    return `${fix}; start the process that embeds (the worker or the API) with it: the operator CLI runs no embedder`;
  return `${fix}; the operator CLI does it once with \`dualwrite reconcile --index-binding rebind\``;
}
