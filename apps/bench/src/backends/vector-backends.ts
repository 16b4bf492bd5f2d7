import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openVector } from '@dualwrite/config';
import type { VectorStore } from '@dualwrite/core';

/** Where a run's index lives (what a drain worker process needs to reach it). */
export type VectorLocation =
  | { kind: 'lancedb'; uri: string; table: string }
  | { kind: 'chroma'; url: string; collection: string };

/** A fresh, empty store for one run, and how to throw it away afterwards. */
export interface VectorLease {
  store: VectorStore;
  location: VectorLocation;
  /** Closes the store (if still open) and deletes its data. */
  dispose(): Promise<void>;
}

/** A vector backend the benchmark can run against. */
export interface VectorBackend {
  /** Backend name as it appears in results (`lancedb`, `chroma`). */
  readonly name: string;
  /** Server URL for client/server backends (Chroma), so a child process can reuse the server. */
  readonly url?: string;
  /** Opens fresh storage (a new LanceDB directory, a new Chroma collection) named after `runId`. */
  open(runId: string, dimension: number): Promise<VectorLease>;
  /** Stops what the backend started for the benchmark (a local Chroma server). Idempotent. */
  shutdown(): Promise<void>;
}

/** Table name of the benchmark's LanceDB stores (the adapter's default). */
const LANCEDB_TABLE = 'dualwrite';

/** Embedded LanceDB in a new directory under `workDir` per run. */
export function lanceDbBackend(workDir: string): VectorBackend {
  return {
    name: 'lancedb',
    async open(runId, dimension) {
      const uri = join(workDir, `lancedb-${runId}`);
      const { store } = await openVector(
        { kind: 'lancedb', lancedbDir: uri, collection: LANCEDB_TABLE },
        dimension,
      );
      return {
        store,
        location: { kind: 'lancedb', uri, table: LANCEDB_TABLE },
        async dispose() {
          await store.close();
          await rm(uri, { recursive: true, force: true });
        },
      };
    },
    async shutdown() {},
  };
}
