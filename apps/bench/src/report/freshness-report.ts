import type { FreshnessCell } from '../runs/freshness.js';
import { esc, inlineScript, jsonForScript } from './html.js';

const ms = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x} ms`);
/** `vector` on SQLite (the default), `vector + relational` otherwise (cells from before had no relational). */
const backends = (c: FreshnessCell) =>
  c.relational === undefined || c.relational === 'sqlite' ? c.vector : `${c.vector} + ${c.relational}`;

/** The freshness table: one row per strategy × backend × offered rate. */
export function freshnessTable(cells: readonly FreshnessCell[]): string {
  const rows = cells.map(
    (c) =>
      `| ${c.strategy} | ${backends(c)} | ${c.rate} | ${ms(c.visible.p50)} | ${ms(c.visible.p95)} | ${ms(c.visible.p99)} | ${ms(c.visible.max)} | ${ms(c.caller.p50)} | ${ms(c.caller.p99)} | ${c.vectorCalls} | ${Math.max(0, ...c.backlog)} | ${c.saturated ? 'yes' : 'no'} | ${c.lost} |`,
  );
  return [
    '| strategy | backends | offered rec/s | visible p50 | p95 | p99 | max | caller p50 | caller p99 | vector calls | peak backlog | saturated | lost |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/**
 * "Which strategy for which load", read off the measured table: per backend and rate, the strategy with the
 * lowest p99 time-to-visible among those that kept up (not saturated, nothing lost).
 */
export function freshnessAdvice(cells: readonly FreshnessCell[]): string {
  const lines: string[] = [];
  for (const vector of new Set(cells.map(backends)))
    for (const rate of [...new Set(cells.map((c) => c.rate))].sort((a, b) => a - b)) {
      const here = cells.filter((c) => backends(c) === vector && c.rate === rate);
      const ok = here.filter((c) => !c.saturated && c.lost === 0 && c.failed === 0);
      if (ok.length === 0) {
        lines.push(`- ${vector}, ${rate} rec/s: no strategy kept up in this run.`);
        continue;
      }
      const best = ok.reduce((a, b) => (b.visible.p99 < a.visible.p99 ? b : a));
      const behind = here.filter((c) => c.saturated).map((c) => c.strategy);
      lines.push(
        `- ${vector}, ${rate} rec/s: **${best.strategy}** (searchable within ${ms(best.visible.p99)} at p99)` +
          (behind.length > 0 ? `; ${behind.join(', ')} fell behind` : '') +
          '.',
      );
    }
  return lines.join('\n');
}

/**
 * `freshness.html`: a self-contained page (Chart.js inlined) that opens with the decision chart — p99
 * time-to-visible against offered rate, log-log, one line per strategy and backend — then the advice and
 * the table.
 */
export function renderFreshnessHtml(cells: readonly FreshnessCell[], intro: string, chartJs: string): string {
  const series = [...new Set(cells.map((c) => `${c.strategy} · ${backends(c)}`))].map((label) => ({
    label,
    points: cells
      .filter((c) => `${c.strategy} · ${backends(c)}` === label)
      .map((c) => ({ x: c.rate, y: Math.max(1, c.visible.p99), saturated: c.saturated })),
  }));
  const advice = freshnessAdvice(cells)
    .split('\n')
    .map((l) => `<li>${esc(l.replace(/^- /, '')).replace(/\*\*(.+?)\*\*/g, '<b>$1</b>')}</li>`)
    .join('');
  const rows = freshnessTable(cells)
    .split('\n')
    .filter((_, i) => i !== 1)
    .map((line, i) => {
      const cellsHtml = line
        .split('|')
        .slice(1, -1)
        .map((c) => (i === 0 ? `<th>${esc(c.trim())}</th>` : `<td>${esc(c.trim())}</td>`))
        .join('');
      return `<tr>${cellsHtml}</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dualwrite freshness</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #222; }
  .chart { position: relative; height: 420px; } table { border-collapse: collapse; font-size: 13px; }
  th, td { border: 1px solid #ddd; padding: 4px 8px; } th { background: #f4f4f4; }
</style></head><body>
<h1>How long until a write is searchable</h1>
<div class="chart"><canvas id="decision"></canvas></div>
<h2>Which strategy for which load</h2><ul>${advice}</ul>
<p>${esc(intro)}</p>
<table>${rows}</table>
<script>${inlineScript(chartJs)}</script>
<script id="data" type="application/json">${jsonForScript(series)}</script>
<script>${inlineScript(`
(function () {
  var series = JSON.parse(document.getElementById('data').textContent);
  var palette = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#b279a2'];
  new Chart(document.getElementById('decision'), {
    type: 'line',
    data: { datasets: series.map(function (s, i) {
      return { label: s.label, data: s.points, borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        pointStyle: s.points.map(function (p) { return p.saturated ? 'crossRot' : 'circle'; }), pointRadius: 5 };
    }) },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { title: { display: true, text: 'p99 time-to-visible vs offered rate (x: saturated)' } },
      scales: { x: { type: 'logarithmic', title: { display: true, text: 'offered records / s' } },
                y: { type: 'logarithmic', title: { display: true, text: 'p99 time-to-visible, ms' } } } }
  });
})();`)}</script>
</body></html>
`;
}
