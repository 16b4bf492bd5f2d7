import type { BacklogResult } from '../runs/backlog.js';
import type { DrainScalingResult } from '../runs/drain-scaling.js';
import { describeMachine, type MachineInfo } from './meta.js';
import {
  drainCells,
  drainHeaders,
  fmtMs,
  fmtRatio,
  hasHeldSnapshot,
  rowCells,
  type SummaryRow,
  TABLE_HEADERS,
} from './summary.js';
import type { BenchReport, TargetCheck } from './types.js';

/** Everything the human-readable reports show. */
export interface ReportView {
  report: BenchReport;
  rows: readonly SummaryRow[];
  targets: readonly TargetCheck[];
  backlog: readonly BacklogResult[];
  /** `--drain-workers` results (empty when not measured). */
  drainScaling: readonly DrainScalingResult[];
  notes: readonly string[];
}

/** The sentence above the drain-scaling table (what was timed, on how many cores). */
export function drainScalingIntro(cores: number | undefined): string {
  return (
    'K separate `dualwrite-worker` processes drain one pre-filled PostgreSQL outbox (batch strategy, ' +
    '`FOR UPDATE SKIP LOCKED` claims); drain time from resuming all K until the last acknowledgement, ' +
    'start-up excluded; verified afterwards. ' +
    (cores === undefined
      ? 'Workers, PostgreSQL and the vector store share this machine.'
      : `Workers, PostgreSQL, the vector store and the benchmark share this machine's ${cores} CPU cores, ` +
        'so K beyond that cannot add CPU.')
  );
}

/** `latest.md`: setup, results table, ratios, targets, notes. */
export function renderMarkdown(view: ReportView): string {
  const { report, rows, targets, backlog, drainScaling, notes } = view;
  const meta = report.meta as {
    date?: string;
    machine?: Partial<MachineInfo>;
    args?: Record<string, unknown>;
    packages?: Record<string, string>;
    input?: Record<string, unknown>;
    durationMs?: number;
  };
  const lines: string[] = [];
  lines.push('# dualwrite benchmark', '');
  lines.push(
    `Run ${meta.date ?? ''}${meta.durationMs ? ` in ${(meta.durationMs / 1000).toFixed(1)} s` : ''}.`,
    '',
  );
  if (meta.machine) lines.push(`**Machine:** ${describeMachine(meta.machine)}`, '');
  if (meta.args) lines.push(`**Args:** \`${JSON.stringify(meta.args)}\``, '');
  if (meta.input) lines.push(`**Input:** \`${JSON.stringify(meta.input)}\``, '');
  if (meta.packages)
    lines.push(
      `**Packages:** ${Object.entries(meta.packages)
        .map(([k, v]) => `${k}@${v}`)
        .join(', ')}`,
      '',
    );
  if (rows.length === 0)
    lines.push('## Results', '', 'No strategy or baseline runs (`--strategies none --baselines none`).', '');
  else {
    lines.push('## Results', '');
    if (rows.some((r) => r.repeats > 1)) lines.push('Medians over repeats (lost/orphans: worst repeat).', '');
    lines.push(mdTable([...TABLE_HEADERS], rows.map(rowCells)), '');
    lines.push('## Ratios', '');
    const ratioKeys = Object.keys(Object.values(report.ratios)[0] ?? {});
    lines.push(
      mdTable(
        ['backends', ...ratioKeys],
        Object.entries(report.ratios).map(([v, r]) => [
          v,
          ...Object.values(r).map((x) => fmtRatio(x as number | null)),
        ]),
      ),
      '',
    );
  }
  if (targets.length > 0) {
    lines.push('## Targets', '');
    lines.push(
      mdTable(
        ['backends', 'target', 'measured', 'bound', 'status'],
        targets.map((t) => [
          t.vector,
          t.target,
          fmtRatio(t.measured),
          t.bound,
          t.status === 'missed' ? '**missed**' : t.status,
        ]),
      ),
      '',
    );
  }
  if (backlog.length > 0) {
    lines.push('## Backlog drain', '');
    lines.push(
      mdTable(
        [
          'vector',
          'relational',
          'strategy',
          'records',
          'idle RSS MB',
          'peak RSS MB',
          'delta MB',
          'drain ms',
          'drain rec/s',
          'vector calls',
          'lost',
          'orphans',
          'target',
        ],
        backlog.map((b) => [
          b.vector,
          b.relational,
          b.strategy,
          String(b.records),
          b.idleRssMb.toFixed(0),
          b.peakRssMb.toFixed(0),
          b.peakRssDeltaMb.toFixed(1),
          fmtMs(b.drainMs),
          Math.round(b.drainThroughput).toString(),
          String(b.vectorCalls),
          String(b.lost),
          String(b.orphans),
          b.target,
        ]),
      ),
      '',
    );
  }
  if (drainScaling.length > 0) {
    lines.push('## Drain scaling', '');
    lines.push(drainScalingIntro(meta.machine?.cores), '');
    const held = hasHeldSnapshot(drainScaling);
    lines.push(
      mdTable(
        drainHeaders(held),
        drainScaling.map((d) => drainCells(d, held)),
      ),
      '',
    );
  }
  if (notes.length > 0) {
    lines.push('## Notes', '');
    for (const n of notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/** A GitHub-flavoured Markdown table (pipes in cells escaped). */
export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out = [`| ${headers.map(esc).join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const row of rows) out.push(`| ${row.map(esc).join(' | ')} |`);
  return out.join('\n');
}
