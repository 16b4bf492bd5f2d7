/** A backend named by the config cannot be used (not available yet in this workspace). */
export class BackendConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendConfigError';
  }
}
