import type { VectorStore } from '@dualwrite/core';

/** Options for {@link openChroma}. */
export interface OpenChromaOptions {
  /** Chroma server URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** Collection name (created on first use). */
  collection: string;
  dimension: number;
}

/**
 * Opens `ChromaVectorStore` from `@dualwrite/chroma` against a running Chroma server (cosine distance).
 * Imported lazily so the default (LanceDB) start never loads the Chroma client.
 * @throws the store's typed error, e.g. `BackendUnavailableError` when nothing answers at `url`.
 */
export async function openChroma(options: OpenChromaOptions): Promise<VectorStore> {
  const { ChromaVectorStore } = await import('@dualwrite/chroma');
  return ChromaVectorStore.open({
    url: options.url,
    collection: options.collection,
    dimension: options.dimension,
  });
}
