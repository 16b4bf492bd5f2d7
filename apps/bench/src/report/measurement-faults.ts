import { computeRatios, type Lookup, type RatioGroup, type RepeatRun } from './ratios.js';

/**
 * Pairs where the first run does strictly more work per record than the second (the second's work plus
 * more), so its caller p50 cannot honestly be lower: sync-2pc makes the same vector call as
 * `vector-raw-single` inside a durable put; every strategy's put commits at least `raw-outbox-tx`'s rows;
 * `raw-outbox-tx` writes `<relational>-only`'s row plus an outbox row; `naive-dual-write` is
 * `vector-raw-single` followed by `<relational>-only`.
 */
export const MORE_WORK_PAIRS: readonly (readonly [more: string, less: string])[] = [
  ['sync-2pc', 'vector-raw-single'],
  ['sync-2pc', 'raw-outbox-tx'],
  ['async-queue', 'raw-outbox-tx'],
  ['batch', 'raw-outbox-tx'],
  ['raw-outbox-tx', 'relational-only'],
  ['naive-dual-write', 'vector-raw-single'],
  ['naive-dual-write', 'relational-only'],
];

/**
 * How far below the baseline a run doing more work may come out before it is called a fault: two runs whose
 * work differs by one index entry in one statement (`raw-outbox-tx` and `postgres-only`) are within the
 * run-to-run noise of one another (measured: ±7 % between repeats).
 */
export const FAULT_TOLERANCE = 0.95;

/** A baseline that came out faster than a run doing strictly more work. */
export interface MeasurementFault {
  /** The ratios group (`lancedb`, `lancedb+postgres`, ...). */
  group: string;
  more: string;
  less: string;
  /** Median over repeats of `more` caller p50 / `less` caller p50 (below {@link FAULT_TOLERANCE}). */
  ratio: number;
}

/**
 * Every {@link MORE_WORK_PAIRS} pair whose caller-p50 ratio (per repeat, median over repeats) is below
 * {@link FAULT_TOLERANCE}:
 * the baseline measured something other than the strategy's share of the work (different rows, table
 * state or options, or drift), so a comparison against it is not like with like. `relational-only` reads
 * as the group's `<relational>-only` run.
 */
export function findMeasurementFaults(
  runs: readonly RepeatRun[],
  groups: readonly (string | RatioGroup)[],
): MeasurementFault[] {
  const key = (more: string, less: string) => `${more}|${less}`;
  const extra: Record<string, (run: Lookup) => number | null> = {};
  for (const [more, less] of MORE_WORK_PAIRS)
    extra[key(more, less)] = (run) => {
      const a = run(more as Parameters<Lookup>[0])?.callerLatencyMs.p50;
      const b = run(less as Parameters<Lookup>[0])?.callerLatencyMs.p50;
      return a === undefined || b === undefined || b === 0 ? null : a / b;
    };
  const ratios = computeRatios(runs, groups, extra);
  const faults: MeasurementFault[] = [];
  for (const [group, values] of Object.entries(ratios))
    for (const [more, less] of MORE_WORK_PAIRS) {
      const ratio = values[key(more, less)];
      if (ratio !== null && ratio !== undefined && ratio < FAULT_TOLERANCE)
        faults.push({ group, more, less, ratio });
    }
  return faults;
}

/** One line per fault for the report's notes. */
export function describeFault(f: MeasurementFault): string {
  return (
    `MEASUREMENT FAULT (${f.group}): ${f.more} caller p50 is ${f.ratio} × ${f.less}'s, though it does strictly ` +
    `more work per record; the baseline is not measuring the same thing — do not read ratios against it.`
  );
}
