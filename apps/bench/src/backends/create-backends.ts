import { type RelationalBackend, sqliteBackend } from './relational-backends.js';
import { lanceDbBackend, type VectorBackend } from './vector-backends.js';

/** Vector backends the CLI accepts. */
export const VECTOR_BACKENDS = ['lancedb', 'chroma'] as const;
/** Relational backends the CLI accepts (`postgres` is planned). */
export const RELATIONAL_BACKENDS = ['sqlite'] as const;

/** Setup shared by the vector backends. */
export interface VectorBackendSetup {
  workDir: string;
  /** Chroma server to use; when absent, a local one is started for the run. */
  chromaUrl: string | undefined;
  log(line: string): void;
}

/**
 * Creates a vector backend by name. For `chroma` without a URL this starts a local Chroma server
 * (stopped by the backend's `shutdown`).
 * @throws {Error} for an unknown name.
 */
export async function createVectorBackend(name: string, setup: VectorBackendSetup): Promise<VectorBackend> {
  switch (name) {
    case 'lancedb':
      return lanceDbBackend(setup.workDir);
    case 'chroma': {
      const { chromaBackend } = await import('./chroma-backend.js');
      return chromaBackend(setup);
    }
    default:
      throw new Error(`unknown vector backend "${name}" (expected one of: ${VECTOR_BACKENDS.join(', ')})`);
  }
}

/**
 * Creates a relational backend by name.
 * @throws {Error} for an unknown or not yet available name.
 */
export function createRelationalBackend(name: string, workDir: string): RelationalBackend {
  switch (name) {
    case 'sqlite':
      return sqliteBackend(workDir);
    case 'postgres':
      throw new Error('relational backend "postgres" is not available yet (no @dualwrite/postgres package)');
    default:
      throw new Error(
        `unknown relational backend "${name}" (expected one of: ${RELATIONAL_BACKENDS.join(', ')})`,
      );
  }
}
