import type { InstrumentedVectorStore } from '../backends/instrumented-vector-store.js';
import type { CallerTiming } from './caller-loop.js';
import { injectionNotes } from './instrument.js';
import { buildRunResult } from './run-result.js';
import type { BaselineRunName, RunContext, RunOutcome } from './types.js';
import type { BaselineCheck } from './verify-baseline.js';

/** What a vector baseline measured: its caller loop, the instrumented store it wrote through, the check. */
export interface CallerLoopMeasurements {
  name: BaselineRunName;
  /** `'none'` when the baseline writes no SQL. */
  relational: string;
  timing: CallerTiming;
  vector: InstrumentedVectorStore;
  peakRssBytes: number;
  check: BaselineCheck;
  /** Records not written after every caller attempt. */
  failedWrites: number;
}

/**
 * The outcome of a baseline whose writes are done when its caller loop returns (nothing delivers in the
 * background): consistent at the end of the last write, vector calls and injected failures as counted by the
 * instrumented store.
 */
export function callerLoopOutcome(ctx: RunContext, m: CallerLoopMeasurements): RunOutcome {
  return {
    result: buildRunResult({
      name: m.name,
      vector: m.vector.name,
      relational: m.relational,
      records: ctx.records.length,
      batchSize: ctx.settings.batchSize,
      timing: m.timing,
      consistentAt: m.timing.lastEnd,
      vectorCalls: m.vector.writeCalls,
      retries: m.timing.retries,
      peakRssBytes: m.peakRssBytes,
      ...m.check,
    }),
    failedWrites: m.failedWrites,
    notes: injectionNotes(m.vector),
  };
}
