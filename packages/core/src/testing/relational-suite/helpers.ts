/**
 * Shared types and helpers of the RelationalStore contract checks (see `../relational-store-suite.ts`).
 * @internal
 */

import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { OutboxEntry, OutboxLease } from '../../contracts/outbox.js';
import { readOutboxEntry } from '../../contracts/relational-operations.js';
import type { RelationalStore, RelationalTx } from '../../contracts/relational-store.js';
import type { DualwriteErrorCode } from '../../errors.js';
import { contentHash } from '../../record/content-hash.js';
import type { Metadata } from '../../record/types.js';
import { compareCodePoints } from '../../util/code-point-order.js';

/** A store under test plus the hook that disposes of it. */
export interface RelationalStoreFixture {
  /** A fresh, empty store. The checks call `init()` themselves. */
  store: RelationalStore;
  /**
   * Closes the store (it may already be closed: `close()` is idempotent) and removes everything it
   * created (temp directory, database, schema, ...). Called once per check, also when the check failed.
   */
  cleanup(): Promise<void>;
  /**
   * Runs one SQL statement on a transaction's `tx.native` (e.g. Kysely's `sql.raw(statement).execute(native)`),
   * for the checks of what an application's own statements do to the transaction. A store without SQL has none,
   * and skips those checks.
   */
  runStatement?(native: unknown, statement: string): Promise<unknown>;
}

/** Creates a fresh, empty, not yet initialised store. */
export type RelationalStoreFactory = () => Promise<RelationalStoreFixture>;

/** One contract check: opens its own store through the factory and rejects on a violation. */
export type RelationalStoreCheck = (factory: RelationalStoreFactory) => Promise<void>;

/** Base of the suite's injected clock, Unix ms. */
export const RELATIONAL_STORE_SUITE_T0 = 1_700_000_000_000;

/**
 * Ids that break naive SQL building or comparison: quotes, SQL and LIKE metacharacters, backslashes,
 * whitespace, unicode (emoji, CJK, combining marks, RTL override) and case / normalisation twins.
 * Each must be stored and fetched exactly, and must not match any other.
 */
export const RELATIONAL_STORE_SPECIAL_IDS: readonly string[] = Object.freeze([
  "a' OR '1'='1",
  '"; DROP TABLE x; --',
  "'; DELETE FROM records; --",
  "'",
  "''",
  '"',
  '%',
  '_',
  'a%',
  'a_',
  '%_%',
  '\\',
  'back\\slash',
  "\\'",
  '*',
  '?',
  '[x]',
  '/* comment */',
  '--',
  'NULL',
  'null',
  '0',
  'A',
  'a',
  'a ',
  ' a',
  'two  spaces',
  'tab\there',
  'new\nline',
  '😀',
  '🇺🇳',
  '中文字符',
  'é', // U+00E9, precomposed
  'e\u0301', // e + combining acute: canonically equivalent to the one above, but a different id
  'Z\u0351\u036b\u0343',
  '\u202eevil',
]);

export { compareCodePoints };

// ---------------------------------------------------------------------------------------------------
// helpers

export const T0 = RELATIONAL_STORE_SUITE_T0;
export const EMBEDDING = [0.1, -0.2, 1 / 3, 1e-8, 12_345.678, -3.4e38, 1e-45, 0.5];

/** Runs `fn` on a fresh, initialised store and always disposes of it. */
export async function withStore(
  factory: RelationalStoreFactory,
  fn: (store: RelationalStore, fixture: RelationalStoreFixture) => Promise<void>,
): Promise<void> {
  const fixture = await factory();
  let failure: unknown;
  try {
    await fixture.store.init();
    await fn(fixture.store, fixture);
  } catch (error) {
    failure = error;
  }
  try {
    await fixture.cleanup();
  } catch (error) {
    if (failure === undefined) failure = error;
  }
  if (failure !== undefined) throw failure;
}

export function uid(label = 'id'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

export interface Put {
  id: string;
  text?: string;
  embedding?: readonly number[] | null;
  metadata?: Metadata;
  deleted?: boolean;
  /** `'own'`: the version being written (as sync-2pc does). Default `null`. */
  syncedVersion?: number | null | 'own';
  now?: number;
}

/** Writes one record the way the strategies do (nextVersion + writeRecord + enqueue) in `tx`; its version. */
export async function putInTx(tx: RelationalTx, p: Put): Promise<number> {
  const version = await tx.nextVersion();
  const text = p.text ?? `text of ${p.id}`;
  const metadata = p.metadata ?? {};
  const embedding = p.embedding === undefined ? EMBEDDING : p.embedding;
  const deleted = p.deleted ?? false;
  const now = p.now ?? T0;
  await tx.writeRecord({
    id: p.id,
    text,
    embedding,
    metadata,
    version,
    deleted,
    contentHash: contentHash(text, metadata, embedding),
    syncedVersion: p.syncedVersion === 'own' ? version : (p.syncedVersion ?? null),
    now,
  });
  await tx.enqueue(p.id, version, deleted ? 'delete' : 'upsert', now);
  return version;
}

/** Writes records the way the strategies do (nextVersion + writeRecord + enqueue), in one transaction. */
export async function putAll(store: RelationalStore, puts: readonly Put[]): Promise<number[]> {
  return store.transaction(async (tx) => {
    const versions: number[] = [];
    for (const p of puts) versions.push(await putInTx(tx, p));
    return versions;
  });
}

export async function put(store: RelationalStore, p: Put): Promise<number> {
  return (await putAll(store, [p]))[0]!;
}

export async function claim(
  store: RelationalStore,
  now: number,
  limit = 100,
  owner = 'worker-1',
  leaseMs = 1_000,
) {
  return store.claimOutbox({ owner, limit, leaseMs, now });
}

/** Claims everything due at `now` and acks it at the entry's version. */
export async function drain(store: RelationalStore, now: number): Promise<void> {
  for (;;) {
    const leases = await claim(store, now, 1_000);
    if (leases.length === 0) return;
    const outcomes = await store.ackOutbox(
      leases.map((l) => ({ recordId: l.recordId, leaseToken: l.leaseToken, appliedVersion: l.version })),
      now,
    );
    expect(outcomes, 'drain: every ack of a fresh lease is acked').toEqual(leases.map(() => 'acked'));
  }
}

export function ackOf(lease: OutboxLease, appliedVersion = lease.version) {
  return { recordId: lease.recordId, leaseToken: lease.leaseToken, appliedVersion };
}

export async function entryOf(store: RelationalStore, id: string): Promise<OutboxEntry> {
  const entry = await readOutboxEntry(store, id);
  expect(entry, `outbox entry for ${JSON.stringify(id)}`).toBeDefined();
  return entry!;
}

export async function recordOf(store: RelationalStore, id: string, includeDeleted = false) {
  const record = (await store.getRecords([id], { includeDeleted })).get(id);
  expect(record, `record ${JSON.stringify(id)}`).toBeDefined();
  return record!;
}

/** The rejection of `fn()` (sync throws included), or a failed assertion if it resolved. */
export async function rejectionOf(what: string, fn: () => Promise<unknown>): Promise<unknown> {
  let resolved = false;
  try {
    await fn();
    resolved = true;
  } catch (error) {
    return error;
  }
  expect(resolved, `${what} should have rejected`).toBe(false);
  return undefined;
}

/**
 * Asserts a dualwrite error with `code`. Compares `code` rather than `instanceof`, so it also works when
 * the adapter resolves a second copy of `@dualwrite/core`.
 */
export async function expectCode(
  what: string,
  code: DualwriteErrorCode,
  fn: () => Promise<unknown>,
): Promise<void> {
  const error = await rejectionOf(what, fn);
  expect(error, `${what}: expected a ${code} error, got ${String(error)}`).toBeInstanceOf(Error);
  expect((error as { code?: unknown }).code, `${what}: wrong error code (${String(error)})`).toBe(code);
}

export async function pageAll<T>(
  what: string,
  fetch: (opts: { after?: string; limit: number }) => Promise<T[]>,
  key: (item: T) => string,
  limit: number,
): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const items = await fetch(after === undefined ? { limit } : { after, limit });
    expect(items.length, `${what}: page size`).toBeLessThanOrEqual(limit);
    all.push(...items);
    if (items.length < limit) return all;
    after = key(items[items.length - 1]!);
  }
  throw new Error(`${what}: pagination did not finish`);
}

export function byCodePoint(ids: readonly string[]): string[] {
  return [...ids].sort(compareCodePoints);
}
