/**
 * Three OS processes drain one PostgreSQL outbox into one LanceDB directory while this process writes 300
 * changes (puts, updates, deletes) over 60 ids. Each child (test/fixtures/drain-worker.ts) is a drain-only
 * `createDualWrite` run from TypeScript source through tsx (`node --import tsx --conditions=source`). Its vector
 * store is wrapped to log every write call and to hold an exclusive marker file per id while the call runs, so
 * the test can prove that no id was ever in flight in two places at once, and that the index converges.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDualWrite, type DualWrite, HashingEmbedder, verifyConsistency } from '@dualwrite/core';
import { type LineChild, spawnLineChild } from '@dualwrite/core/testing';
import { LanceDbVectorStore } from '@dualwrite/lancedb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresRelationalStore } from '../src/index.js';
import { DATABASE_URL, dropSchema, schemaName } from './helpers.js';

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = fileURLToPath(new URL('./fixtures/drain-worker.ts', import.meta.url));
const DIMENSION = 16;
const IDS = 60;
const CHANGES = 300;
const STRATEGIES = ['batch', 'async-queue', 'batch'] as const;

interface Line {
  type: string;
  owner: string;
  pid?: number;
  call?: number;
  op?: string;
  ids?: string[];
  id?: string;
  t?: number;
  error?: string;
}

/** A drain worker process and its name. */
type Worker = LineChild<Line> & { owner: string };

function startWorker(args: string[], owner: string): Worker {
  const env = { DUALWRITE_TEST_DATABASE_URL: DATABASE_URL, DW_DIMENSION: String(DIMENSION) };
  return Object.assign(spawnLineChild<Line>(WORKER, args, { cwd: PACKAGE_ROOT, env }), { owner });
}

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Pairs of write calls on one id from different processes whose [begin, end] intervals overlap. */
function overlappingCalls(lines: readonly Line[]): string[] {
  const open = new Map<string, Line>();
  const intervals = new Map<string, { owner: string; begin: number; end: number }[]>();
  for (const line of lines) {
    if (line.type !== 'begin' && line.type !== 'end') continue;
    const key = `${line.owner}:${line.call}`;
    if (line.type === 'begin') open.set(key, line);
    else {
      const begin = open.get(key)!;
      for (const id of line.ids ?? []) {
        const list = intervals.get(id) ?? [];
        list.push({ owner: line.owner, begin: begin.t!, end: line.t! });
        intervals.set(id, list);
      }
    }
  }
  const found: string[] = [];
  for (const [id, list] of intervals)
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++) {
        const [a, b] = [list[i]!, list[j]!];
        if (a.begin < b.end && b.begin < a.end)
          found.push(`${id}: ${a.owner} [${a.begin}, ${a.end}] vs ${b.owner} [${b.begin}, ${b.end}]`);
      }
  return found;
}

describe('PostgresRelationalStore: three drain-worker processes on one outbox', () => {
  const schema = schemaName();
  let dir: string;
  let workers: Worker[] = [];
  let dw: DualWrite | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dw-pg-multiprocess-'));
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await dw?.close({ drain: false }).catch(() => {});
    await dropSchema(schema);
    await rm(dir, { recursive: true, force: true });
  });

  it(`${STRATEGIES.length} processes drain ${CHANGES} changes over ${IDS} ids: no id in flight twice, index converges`, async () => {
    const lanceDir = join(dir, 'lance');
    const markerDir = join(dir, 'in-flight');
    await mkdir(markerDir);
    const relational = new PostgresRelationalStore({ connectionString: DATABASE_URL, schema, poolSize: 4 });
    // Opening the store first creates the table, so the workers do not race to create it.
    const vector = await LanceDbVectorStore.open({ uri: lanceDir, dimension: DIMENSION });
    const embedder = new HashingEmbedder({ dimension: DIMENSION });
    dw = await createDualWrite({ relational, vector, embedder, strategy: 'batch' });
    dw.pause(); // this process only writes; the children deliver
    // pause() does not recall a claim its drainer issued just before: let it finish on the empty outbox.
    await new Promise((r) => setTimeout(r, 200));

    workers = STRATEGIES.map((strategy, i) =>
      startWorker([schema, lanceDir, markerDir, `worker-${i}-${strategy}`, strategy], `worker-${i}`),
    );
    const ready = Promise.all(workers.map((w) => w.ready));
    const early = Promise.race(workers.map((w) => w.exit.then(() => w)));
    const first = await Promise.race([ready.then(() => undefined), early]);
    if (first !== undefined) throw new Error(`${first.owner} exited before ready:\n${first.stderr}`);

    // 300 changes over 60 ids, in transactions of 1..5 changes, while the workers drain.
    const next = random(42);
    const ids = Array.from({ length: IDS }, (_, i) => `doc-${String(i).padStart(2, '0')}`);
    let changes = 0;
    let round = 0;
    while (changes < CHANGES) {
      round++;
      const size = Math.min(CHANGES - changes, 1 + Math.floor(next() * 5));
      const picked = Array.from({ length: size }, () => ids[Math.floor(next() * IDS)]!);
      if (next() < 0.2) await dw.deleteMany(picked);
      else
        await dw.putMany(
          picked.map((id, i) => ({
            id,
            text: `${id} round ${round} item ${i}`,
            metadata: { round, owner: 'parent' },
            ...(next() < 0.5 ? { embedding: embedder.embedOne(`${id} ${round} ${i}`) } : {}),
          })),
        );
      changes += size;
      if (round % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }

    await dw.flush({ timeoutMs: 60_000 });
    const report = await verifyConsistency(relational, vector);
    expect(report, JSON.stringify(report.examples)).toMatchObject({ lost: 0, stale: 0, orphans: 0 });
    expect((await dw.stats()).deadLetters).toBe(0);

    for (const w of workers) w.child.kill('SIGTERM');
    const codes = await Promise.all(workers.map((w) => w.exit));
    for (const [i, w] of workers.entries())
      expect(codes[i], `${w.owner} exit code; stderr:\n${w.stderr}`).toBe(0);

    const lines = workers.flatMap((w) => w.lines);
    expect(
      lines.filter((l) => l.type === 'overlap'),
      'marker files: no id held by two calls at once',
    ).toEqual([]);
    expect(overlappingCalls(lines), 'timestamps: no two calls on one id overlap').toEqual([]);
    expect(await readdir(markerDir), 'every marker was released').toEqual([]);
    const calls = lines.filter((l) => l.type === 'end');
    const busy = new Set(calls.map((l) => l.owner));
    expect(busy.size, `the processes really shared the work: ${[...busy].join(', ')}`).toBeGreaterThanOrEqual(
      2,
    );
    expect(lines.filter((l) => l.type === 'dead-lettered')).toEqual([]);
    for (const w of workers) expect(w.lines.at(-1)?.type, `${w.owner} closed cleanly`).toBe('done');

    const failed = calls.filter((l) => l.error !== undefined);
    const spans = calls.map((end) => ({
      owner: end.owner,
      end: end.t!,
      begin: lines.find((b) => b.type === 'begin' && b.owner === end.owner && b.call === end.call)!.t!,
    }));
    let concurrent = 0;
    for (let i = 0; i < spans.length; i++)
      for (let j = i + 1; j < spans.length; j++)
        if (
          spans[i]!.owner !== spans[j]!.owner &&
          spans[i]!.begin < spans[j]!.end &&
          spans[j]!.begin < spans[i]!.end
        )
          concurrent++;
    console.info(
      `[multiprocess] ${calls.length} vector calls (${failed.length} failed, retried), ` +
        `per worker: ${workers.map((w) => `${w.owner}=${w.lines.filter((l) => l.type === 'end').length}`).join(' ')}; ` +
        `${concurrent} pairs of LanceDB writes from different processes overlapped in time; ` +
        `${report.records} live records` +
        (failed.length > 0 ? `; first failure: ${failed[0]!.error}` : ''),
    );
  });
});
