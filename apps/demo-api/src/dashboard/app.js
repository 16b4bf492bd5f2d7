// dualwrite sync dashboard: polls the JSON API every 2 s. No build step, no CDN: Chart.js is served by
// the app from node_modules (/assets/vendor/chart.umd.min.js).
/* global Chart */

const POLL_MS = 2000;
const TOKEN_KEY = 'dualwrite-demo-token';
const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = {
    accept: 'application/json',
    ...(options.body ? { 'content-type': 'application/json' } : {}),
  };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) throw new Unauthorized('unauthorized');
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

function fmtMs(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

function fmtTime(at) {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function lineChart(canvas, datasets, scales) {
  return new Chart(canvas, {
    type: 'line',
    data: { labels: [], datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0 } },
      scales,
      plugins: { legend: { position: 'bottom' } },
    },
  });
}

const charts = {
  outbox: lineChart(
    $('chart-outbox'),
    [
      { label: 'outbox depth', data: [], borderColor: '#2f6fdf', yAxisID: 'y' },
      { label: 'lag (s)', data: [], borderColor: '#e08a1e', yAxisID: 'lag' },
    ],
    {
      y: { beginAtZero: true, title: { display: true, text: 'entries' } },
      lag: {
        beginAtZero: true,
        position: 'right',
        grid: { drawOnChartArea: false },
        title: { display: true, text: 'seconds' },
      },
    },
  ),
  throughput: lineChart(
    $('chart-throughput'),
    [
      { label: 'writes/s (API)', data: [], borderColor: '#23864b' },
      { label: 'synced/s (index)', data: [], borderColor: '#8a4fd1' },
    ],
    { y: { beginAtZero: true } },
  ),
};

function renderStatus(s) {
  $('setup').textContent =
    `${s.strategy} · ${s.backends.relational} · ${s.backends.vector} · embedder ${s.backends.embedder}`;
  const badges = $('badges');
  badges.replaceChildren(
    el(
      'span',
      { class: `badge ${s.backendDown ? 'bad' : 'ok'}` },
      s.downBackend === 'embedder'
        ? 'embedder unreachable'
        : s.backendDown
          ? 'index unreachable'
          : 'index up',
    ),
    ...(s.paused ? [el('span', { class: 'badge bad' }, 'delivery paused')] : []),
  );
  $('depth').textContent = String(s.outboxDepth);
  $('lag').textContent = fmtMs(s.oldestPendingAgeMs);
  $('dead').textContent = String(s.deadLetters);
  $('dead').classList.toggle('bad', s.deadLetters > 0);
  $('summaries').textContent = String(s.summaries);
  $('synced').textContent = String(s.counters.synced);
  $('retries').textContent = String(s.counters.retries);
}

function renderHistory(h) {
  const labels = h.samples.map((p) => fmtTime(p.at));
  charts.outbox.data.labels = labels;
  charts.outbox.data.datasets[0].data = h.samples.map((p) => p.outboxDepth);
  charts.outbox.data.datasets[1].data = h.samples.map((p) => p.oldestPendingAgeMs / 1000);
  charts.throughput.data.labels = labels;
  charts.throughput.data.datasets[0].data = h.samples.map((p) => p.writesPerSec);
  charts.throughput.data.datasets[1].data = h.samples.map((p) => p.syncedPerSec);
  charts.outbox.update();
  charts.throughput.update();
}

async function requeue(ids) {
  await api('/sync/dead-letters/requeue', { method: 'POST', body: JSON.stringify(ids ? { ids } : {}) });
  await refresh();
}

function renderDeadLetters(page) {
  const tbody = $('dead-table').querySelector('tbody');
  tbody.replaceChildren(
    ...page.items.map((d) =>
      el(
        'tr',
        {},
        el('td', { class: 'fqn' }, d.targetFqn),
        el('td', {}, String(d.version)),
        el('td', {}, d.op),
        el('td', {}, String(d.attempts)),
        el('td', { class: 'error' }, d.lastError ?? ''),
        el('td', {}, el('button', { type: 'button', onclick: () => requeue([d.targetFqn]) }, 'Requeue')),
      ),
    ),
  );
  $('dead-table').hidden = page.items.length === 0;
  $('dead-empty').hidden = page.items.length > 0;
  $('requeue-all').disabled = page.items.length === 0;
}

async function refresh() {
  try {
    const [status, history, dead] = await Promise.all([
      api('/sync/status'),
      api('/sync/history'),
      api('/sync/dead-letters?limit=50'),
    ]);
    $('auth').hidden = true;
    renderStatus(status);
    renderHistory(history);
    renderDeadLetters(dead);
    document.body.dataset.loaded = 'true';
  } catch (error) {
    if (error instanceof Unauthorized) $('auth').hidden = false;
    else $('setup').textContent = `error: ${error.message}`;
  }
}

async function search(event) {
  event.preventDefault();
  const text = $('search-text').value.trim();
  if (!text) return;
  const filter = $('search-level').value ? { level: $('search-level').value } : undefined;
  const k = Number($('search-k').value) || 10;
  $('search-note').textContent = 'searching…';
  try {
    const { hits } = await api('/search', { method: 'POST', body: JSON.stringify({ text, k, filter }) });
    $('search-note').textContent = `${hits.length} result(s)`;
    $('search-results').replaceChildren(
      ...hits.map((h) =>
        el(
          'li',
          {},
          el(
            'div',
            {},
            el('span', { class: 'fqn' }, h.targetFqn),
            ' ',
            el('span', { class: 'badge' }, h.level),
          ),
          ...(h.stale ? [el('span', { class: 'badge bad' }, 'stale')] : []),
          el('div', {}, h.summary),
          el('div', { class: 'muted' }, `score ${h.score.toFixed(3)} · version ${h.version}`),
        ),
      ),
    );
    document.body.dataset.searched = 'true';
  } catch (error) {
    $('search-note').textContent = error instanceof Unauthorized ? 'token needed' : `error: ${error.message}`;
  }
}

$('auth-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value);
  void refresh();
});
$('requeue-all').addEventListener('click', () => void requeue());
$('search-form').addEventListener('submit', search);

void refresh();
setInterval(refresh, POLL_MS);
