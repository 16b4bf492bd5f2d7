import Table from 'cli-table3';
import type { DrainScalingResult } from '../runs/drain-scaling.js';
import type { SummaryRow } from './summary.js';
import { drainCells, drainHeaders, fmtRatio, hasHeldSnapshot, rowCells, TABLE_HEADERS } from './summary.js';
import type { BackendRatios, TargetCheck } from './types.js';

/** The results table for the terminal (cli-table3), numbers right-aligned. */
export function renderTerminalTable(rows: readonly SummaryRow[]): string {
  const table = new Table({
    // Two-line headers keep the table narrow enough for a normal terminal.
    head: TABLE_HEADERS.map((h) => h.replace(' ', '\n')),
    colAligns: TABLE_HEADERS.map((_, i) => (i < 4 ? 'left' : 'right')),
    style: { head: [], border: [], compact: true },
  });
  for (const r of rows) table.push(rowCells(r));
  return table.toString();
}

/** Ratios per backend, one line each. */
export function renderTerminalRatios(ratios: Record<string, BackendRatios>): string {
  const table = new Table({
    head: ['backends', ...Object.keys(Object.values(ratios)[0] ?? {})],
    style: { head: [], border: [], compact: true },
  });
  for (const [vector, r] of Object.entries(ratios)) table.push([vector, ...Object.values(r).map(fmtRatio)]);
  return table.toString();
}

/** The targets check: one line per target and backend with `met` / `missed`. */
export function renderTerminalTargets(checks: readonly TargetCheck[]): string {
  const width = Math.max(8, ...checks.map((c) => c.vector.length));
  return checks
    .map((c) => {
      const mark = c.status === 'met' ? 'met   ' : c.status === 'missed' ? 'MISSED' : 'n/a   ';
      return `  [${mark}] ${c.vector.padEnd(width)} ${c.target}  (measured ${fmtRatio(c.measured)}, target ${c.bound})`;
    })
    .join('\n');
}

/** The drain-scaling table: one row per vector backend and worker count. */
export function renderTerminalDrainScaling(results: readonly DrainScalingResult[]): string {
  const held = hasHeldSnapshot(results);
  const headers = drainHeaders(held);
  const table = new Table({
    head: headers.map((h) => h.replace(' ', '\n')),
    colAligns: headers.map((_, i) => (i < 2 ? 'left' : 'right')),
    style: { head: [], border: [], compact: true },
  });
  for (const d of results) table.push(drainCells(d, held));
  return table.toString();
}
