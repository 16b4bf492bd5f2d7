import { ValidationError } from '../errors.js';

/** The relational stores of open facades that close them on `close()` (`closeStores`, the default). */
const closedOnClose = new WeakSet<object>();

/**
 * Records that a facade opening now closes `relational` on its `close()`, and returns the release for that close
 * (or a failed open). A facade that does not close its stores (`closeStores: false`, another process modelled in
 * the same one) records nothing and is never refused. Vector stores are not tracked: tests model several
 * processes over one index by handing them one in-memory vector store, each process its own relational store
 * over shared data.
 * @throws {ValidationError} on `options.relational` when another open facade closes that store on its `close()`
 *   too: each would close the store under the other (its next call a `ClosedError`) while both run delivery and
 *   index checks over it.
 */
export function ownRelationalStore(relational: object, closesStores: boolean): () => void {
  if (!closesStores) return () => {};
  if (closedOnClose.has(relational))
    throw new ValidationError(
      'options.relational',
      'is the store of another open DualWrite, which closes it on close()',
      {
        limit: 'one open facade per store: close the other first, or pass closeStores: false to this one',
      },
    );
  closedOnClose.add(relational);
  return () => closedOnClose.delete(relational);
}
