import type { VectorStore } from '@dualwrite/core';
import { InstrumentedVectorStore } from '../backends/instrumented-vector-store.js';
import { hashString, seededRandom } from '../util/seeded-random.js';
import type { RunSettings } from './types.js';

/** Wraps a run's vector store with the invocation's latency and failure knobs (seeded per run). */
export function instrument(
  store: VectorStore,
  runId: string,
  settings: RunSettings,
): InstrumentedVectorStore {
  const { vectorLatencyMs, vectorFailureRate, seed } = settings;
  return new InstrumentedVectorStore(store, {
    latencyMs: vectorLatencyMs,
    failureRate: vectorFailureRate,
    random: seededRandom(seed ^ hashString(runId)),
  });
}

/** A note for runs that had failures injected. */
export function injectionNotes(store: InstrumentedVectorStore): string[] {
  return store.injectedFailures > 0
    ? [`${store.injectedFailures} vector write calls failed by injection`]
    : [];
}
