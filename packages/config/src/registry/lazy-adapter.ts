import { BackendPackageMissingError } from '../errors.js';

/** True when `error` says that `packageName` itself (not something it imports) cannot be found. */
function isMissing(error: unknown, packageName: string): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return error instanceof Error && error.message.includes(`'${packageName}'`);
}

/**
 * Imports an adapter package only when the config chooses it, so a Chroma process never loads LanceDB and
 * a SQLite process never loads `pg`.
 * @throws {BackendPackageMissingError} when the package is not installed.
 */
export async function importAdapter<M>(
  choice: { key: string; kind: string; packageName: string; install: string },
  load: () => Promise<M>,
): Promise<M> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, choice.packageName))
      throw new BackendPackageMissingError(choice.key, choice.kind, choice.packageName, choice.install, {
        cause: error,
      });
    throw error;
  }
}
