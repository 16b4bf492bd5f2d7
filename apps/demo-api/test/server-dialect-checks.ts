/**
 * Checks every server dialect (PostgreSQL, MySQL) of the service must pass the same way, over real HTTP:
 * listing order and cursors identical to SQLite's, concurrent batches over the same fqns serialised, and the
 * startup error for an unreachable server.
 */
import { BackendStartError } from '@dualwrite/config';
import type { RelationalStore } from '@dualwrite/core';
import { compareCodePoints } from '@dualwrite/core/testing';
import { expect } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { buildServer } from '../src/server.js';
import { runSummaryMigrations } from '../src/summaries/migrations.js';
import type { StoreKysely, SummaryStorage } from '../src/summaries/table.js';
import { type Answer, type Json, type Started, summary, tempDir } from './helpers.js';

/** Lists in code point order with the same pages and cursors on `app` as on `lite` (SQLite). */
export async function expectSameListingAsSqlite(app: Started, lite: Started): Promise<void> {
  // Case, accents, a fullwidth letter (U+FF21) and an astral one (U+1F600): a locale collation, or
  // JavaScript's UTF-16 order, would sort some of these differently.
  const fqns = ['x.b', 'x.B', 'x.a', 'x.Z9', 'x.é', 'x.e', 'x.Ａ', 'x.😀', 'x.ä', 'x._', 'x.a.b', 'x.a-b'];
  const body = { summaries: fqns.map((f, i) => summary(f, `symbol ${i}`, i % 2 ? 'class' : 'method')) };
  const pages = async (server: Started, query: string) => {
    const seen: Json[] = [];
    let cursor: string | null = null;
    do {
      const r: Answer = await server.request(
        'GET',
        `/summaries?limit=5${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      seen.push({ fqns: r.body.items.map((s: Json) => s.targetFqn), cursor: r.body.nextCursor });
      cursor = r.body.nextCursor;
    } while (cursor);
    return seen;
  };
  for (const each of [app, lite]) expect((await each.request('POST', '/summaries', body)).status).toBe(201);
  for (const query of ['', '&level=class', '&stale=false']) {
    const [onServer, onLite] = await Promise.all([pages(app, query), pages(lite, query)]);
    expect(onServer, query).toEqual(onLite);
    if (query === '')
      expect(onServer.flatMap((p: Json) => p.fqns)).toEqual([...fqns].sort(compareCodePoints));
  }
  const item = (await app.request('GET', `/summaries/${encodeURIComponent('x.😀')}`)).body;
  expect(item).toMatchObject({ targetFqn: 'x.😀', stale: false, level: 'class' });
  expect([typeof item.version, typeof item.createdAt, typeof item.updatedAt]).toEqual([
    'number',
    'number',
    'number',
  ]);
}

/** Concurrent batches over the same fqns in opposite orders: no deadlock, no lost update, one creation. */
export async function expectSerialisedConcurrentBatches(app: Started): Promise<void> {
  const fqns = Array.from({ length: 20 }, (_, i) => `conc.mod.fn${String(i).padStart(2, '0')}`);
  // Writers against writers only: with delivery paused no outbox ack competes for the record locks (acks
  // never wait while holding a lock, so they cannot deadlock a writer; this check is about the writers' order).
  expect((await app.request('POST', '/sync/pause')).status).toBe(200);
  for (let round = 0; round < 3; round++) {
    const batch = (tag: string, order: string[]) => ({
      summaries: order.map((f) => summary(f, `${tag} wrote ${f} in round ${round}`)),
    });
    // Opposite orders: without a fixed lock order PostgreSQL would abort one of them (40P01).
    const answers = await Promise.all([
      app.request('POST', '/summaries', batch('a', fqns)),
      app.request('POST', '/summaries', batch('b', [...fqns].reverse())),
    ]);
    expect(answers.map((r) => r.status).sort(), JSON.stringify(answers.map((r) => r.body))).toEqual(
      round === 0 ? [200, 201] : [200, 200],
    );
    const outcomes = answers.flatMap((r, i) =>
      (r.body.results as Json[]).map((o) => ({ ...o, tag: i === 0 ? 'a' : 'b' })),
    );
    for (const fqn of fqns) {
      const mine = outcomes.filter((o) => o.targetFqn === fqn);
      expect(mine.filter((o) => o.created)).toHaveLength(round === 0 ? 1 : 0);
      // The row holds the later of the two writes, at its version.
      const last = mine.reduce((x, y) => (x.version > y.version ? x : y));
      const row = (await app.request('GET', `/summaries/${fqn}`)).body;
      expect(row).toMatchObject({
        version: last.version,
        summary: `${last.tag} wrote ${fqn} in round ${round}`,
      });
    }
  }
  expect((await app.request('POST', '/sync/resume')).status).toBe(200);
  expect((await app.request('POST', '/sync/flush', { timeoutMs: 10_000 })).body).toMatchObject({
    pending: 0,
  });
}

/**
 * Three store instances on one fresh database start at once: the service's migrations are applied once, and a
 * later run applies nothing.
 */
export async function expectMigrationsAppliedOnce(
  stores: readonly (RelationalStore<StoreKysely> & { readonly kysely: StoreKysely })[],
  storage: SummaryStorage,
): Promise<void> {
  await Promise.all(stores.map((s) => s.init()));
  const applied = await Promise.all(stores.map((s) => runSummaryMigrations(s, s.kysely, storage)));
  expect(applied.flat()).toEqual(['0001_summaries']);
  expect(await runSummaryMigrations(stores[0]!, stores[0]!.kysely, storage)).toEqual([]);
}

/**
 * The service refuses to start on `env` (an unreachable server), with a message naming `where`, the driver's
 * `code` and `relational.url`, and never the password `secret`.
 */
export async function expectStartRefused(
  env: Record<string, string>,
  expected: { where: string; code: string; secret: string },
): Promise<void> {
  const temp = await tempDir();
  try {
    const config = loadConfig({ env: { ...env, DUALWRITE_DATA_DIR: temp.dir }, cwd: temp.dir });
    const error = await buildServer(config).then(
      () => expect.unreachable('started'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackendStartError);
    const { message } = error as Error;
    expect(message).toContain(expected.where);
    expect(message).toContain(expected.code);
    expect(message).toContain('relational.url (DATABASE_URL)');
    expect(message).not.toContain(expected.secret);
  } finally {
    await temp.remove();
  }
}
