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
