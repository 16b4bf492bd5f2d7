import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { drainScalingIntro, type ReportView } from './markdown.js';
import { describeMachine, type MachineInfo } from './meta.js';
import {
  drainCells,
  drainHeaders,
  fmtMs,
  fmtRatio,
  hasHeldSnapshot,
  rowCells,
  TABLE_HEADERS,
} from './summary.js';

/** Path of Chart.js's UMD bundle in node_modules (inlined into the HTML report). */
export function chartJsBundlePath(): string {
  // `chart.js` resolves to dist/chart.cjs for require; the UMD bundle sits beside it.
  return join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js');
}

/**
 * `latest.html`: a single self-contained page (Chart.js inlined, no network) with charts of caller
 * latency p50/p95/p99, throughput (caller and end-to-end), time to consistency and vector calls per run,
 * then the table, ratios, targets and notes.
 */
export function renderHtml(
  view: ReportView,
  chartJs: string = readFileSync(chartJsBundlePath(), 'utf8'),
): string {
  const { report, rows, targets, backlog, drainScaling, notes } = view;
  const multiRelational = new Set(rows.map((r) => r.relational).filter((r) => r !== 'none')).size > 1;
  const labels = rows.map((r) =>
    r.vector === 'none'
      ? r.name
      : multiRelational && r.relational !== 'none'
        ? `${r.name} · ${r.vector} · ${r.relational}`
        : `${r.name} · ${r.vector}`,
  );
  const data = {
    labels,
    kinds: rows.map((r) => r.kind),
    p50: rows.map((r) => r.callerLatencyMs.p50),
    p95: rows.map((r) => r.callerLatencyMs.p95),
    p99: rows.map((r) => r.callerLatencyMs.p99),
    callerThroughput: rows.map((r) => r.callerThroughput),
    endToEndThroughput: rows.map((r) => r.endToEndThroughput),
    timeToConsistencyMs: rows.map((r) => r.timeToConsistencyMs),
    vectorCalls: rows.map((r) => r.vectorCalls),
    drain: {
      labels: drainScaling.map((d) => `${d.workers} worker${d.workers === 1 ? '' : 's'} · ${d.vector}`),
      throughput: drainScaling.map((d) => d.throughput),
      speedup: drainScaling.map((d) => d.speedup),
      heldThroughput: drainScaling.map((d) => d.heldSnapshotThroughput ?? null),
    },
  };
  const meta = report.meta as {
    date?: string;
    machine?: Partial<MachineInfo>;
    args?: unknown;
    input?: unknown;
  };
  const table = htmlTable([...TABLE_HEADERS], rows.map(rowCells), (i) => (i >= 4 ? 'num' : ''));
  const ratioKeys = Object.keys(Object.values(report.ratios)[0] ?? {});
  const ratios = htmlTable(
    ['backends', ...ratioKeys],
    Object.entries(report.ratios).map(([v, r]) => [
      v,
      ...Object.values(r).map((x) => fmtRatio(x as number | null)),
    ]),
    (i) => (i > 0 ? 'num' : ''),
  );
  const targetRows = htmlTable(
    ['backends', 'target', 'measured', 'bound', 'status'],
    targets.map((t) => [t.vector, t.target, fmtRatio(t.measured), t.bound, t.status]),
    (i) => (i === 2 ? 'num' : ''),
  );
  const backlogTable =
    backlog.length === 0
      ? ''
      : `<h2>Backlog drain</h2>${htmlTable(
          [
            'vector',
            'relational',
            'strategy',
            'records',
            'idle RSS MB',
            'peak RSS MB',
            'delta MB',
            'drain ms',
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
            String(b.lost),
            String(b.orphans),
            b.target,
          ]),
          (i) => (i >= 3 && i < 10 ? 'num' : ''),
        )}`;
  const held = hasHeldSnapshot(drainScaling);
  const drainSection =
    drainScaling.length === 0
      ? ''
      : `<h2>Drain scaling</h2>
<p>${esc(drainScalingIntro(meta.machine?.cores).replaceAll('`', ''))}</p>
<div class="chart"><canvas id="drain"></canvas></div>
${htmlTable(
  drainHeaders(held),
  drainScaling.map((d) => drainCells(d, held)),
  (i) => (i >= 2 && drainHeaders(held)[i] !== 'per worker' ? 'num' : ''),
)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dualwrite benchmark ${esc(meta.date ?? '')}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px; padding: 0 16px; color: #222; }
  h1 { margin-bottom: 4px; } .sub { color: #666; margin-top: 0; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 24px; }
  .chart { position: relative; height: 340px; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px; }
  table { border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }
  th, td { border: 1px solid #ddd; padding: 4px 8px; } th { background: #f4f4f4; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.met { color: #1a7f37; font-weight: 600; } td.missed { color: #cf222e; font-weight: 600; }
  code, pre { background: #f6f8fa; padding: 2px 4px; border-radius: 4px; } pre { padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
<h1>dualwrite benchmark</h1>
<p class="sub">${esc(meta.date ?? '')} · ${esc(describeMachine(meta.machine))}</p>
<div class="charts">
  <div class="chart"><canvas id="latency"></canvas></div>
  <div class="chart"><canvas id="throughput"></canvas></div>
  <div class="chart"><canvas id="consistency"></canvas></div>
  <div class="chart"><canvas id="calls"></canvas></div>
</div>
<h2>Results</h2>
${table}
<h2>Ratios</h2>
${ratios}
<h2>Targets</h2>
${targetRows.replace(/<td>(met|missed)<\/td>/g, '<td class="$1">$1</td>')}
${backlogTable}
${drainSection}
${notes.length > 0 ? `<h2>Notes</h2><ul>${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Setup</h2>
<pre>${esc(JSON.stringify({ args: meta.args, input: meta.input, packages: (report.meta as { packages?: unknown }).packages }, null, 2))}</pre>
<script>${inlineScript(chartJs)}</script>
<script id="bench-data" type="application/json">${jsonForScript(data)}</script>
<script>${inlineScript(CHART_SETUP)}</script>
</body>
</html>
`;
}

/** Builds the four charts from the embedded JSON (runs in the browser). */
const CHART_SETUP = `
(function () {
  var d = JSON.parse(document.getElementById('bench-data').textContent);
  var palette = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#b279a2'];
  function bars(id, title, yTitle, datasets, log) {
    new Chart(document.getElementById(id), {
      type: 'bar',
      data: { labels: d.labels, datasets: datasets.map(function (ds, i) {
        return { label: ds.label, data: ds.data, backgroundColor: palette[i % palette.length] };
      }) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { title: { display: true, text: title } },
        scales: { y: { type: log ? 'logarithmic' : 'linear', title: { display: true, text: yTitle } } }
      }
    });
  }
  bars('latency', 'Caller latency per run (log scale)', 'ms', [
    { label: 'p50', data: d.p50 }, { label: 'p95', data: d.p95 }, { label: 'p99', data: d.p99 }
  ], true);
  bars('throughput', 'Throughput (log scale)', 'records / s', [
    { label: 'caller', data: d.callerThroughput }, { label: 'end-to-end', data: d.endToEndThroughput }
  ], true);
  bars('consistency', 'Time to consistency: first write until flush resolved (log scale)', 'ms', [
    { label: 'time to consistency', data: d.timeToConsistencyMs }
  ], true);
  bars('calls', 'Vector store write calls (log scale)', 'calls', [
    { label: 'vector calls', data: d.vectorCalls }
  ], true);
  if (d.drain.labels.length > 0) {
    new Chart(document.getElementById('drain'), {
      type: 'bar',
      data: { labels: d.drain.labels, datasets: [
        { label: 'drain records / s', data: d.drain.throughput, backgroundColor: palette[0], yAxisID: 'y' },
        { label: 'speed-up vs 1 worker', data: d.drain.speedup, backgroundColor: palette[1], yAxisID: 'y1' }
      ].concat(d.drain.heldThroughput.some(function (x) { return x !== null; })
        ? [{ label: 'records / s with a held REPEATABLE READ', data: d.drain.heldThroughput, backgroundColor: palette[2], yAxisID: 'y' }]
        : []) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { title: { display: true, text: 'Drain throughput with K worker processes' } },
        scales: {
          y: { position: 'left', title: { display: true, text: 'records / s' } },
          y1: { position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: 'speed-up (x)' } }
        }
      }
    });
  }
})();
`;

function htmlTable(headers: string[], rows: string[][], cls: (col: number) => string): string {
  const head = `<tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr>${r
          .map((c, i) => {
            const k = cls(i);
            return k ? `<td class="${k}">${esc(c)}</td>` : `<td>${esc(c)}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  return `<table>\n${head}\n${body}\n</table>`;
}

/** HTML-escapes text. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside a `<script>` element (no `</script>`, no `<!--`). */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** Script text safe to inline (no closing `</script`). */
export function inlineScript(code: string): string {
  return code.replace(/<\/script/gi, '<\\/script');
}
