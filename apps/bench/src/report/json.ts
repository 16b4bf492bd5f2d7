import type { BenchReport } from './types.js';

/** `latest.json`'s text: the report with 2-space indentation and a trailing newline. */
export function renderJson(report: BenchReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
