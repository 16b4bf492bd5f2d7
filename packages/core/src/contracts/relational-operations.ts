/**
 * Operations of the relational port that a store may implement itself (a fast path) or leave to these
 * generic versions, written once over the required surface (`transaction` and its row-level primitives,
 * `listVersions`). Core always calls these; the contract suite checks a store's own version against them.
 *
 * @packageDocumentation
 */
import { compareCodePoints } from '../util/code-point-order.js';
import type { OutboxEntry } from './outbox.js';
import type { EmbeddingUpdate, RelationalStore, RelationalTx } from './relational-store.js';

/** Page size of {@link countLiveRecords}'s walk over `listVersions` (the largest page the port allows). */
const COUNT_PAGE = 10_000;

/**
 * Number of live records (tombstones excluded): the store's `countRecords` when it has one, else a walk over
 * `listVersions` in pages of 10,000 (one read per page; cost grows with the table).
 */
export async function countLiveRecords(store: RelationalStore<unknown>): Promise<number> {
  if (store.countRecords) return store.countRecords();
  let live = 0;
  let after: string | undefined;
  for (;;) {
    const page = await store.listVersions({ after, limit: COUNT_PAGE });
    for (const row of page) if (!row.deleted) live += 1;
    if (page.length < COUNT_PAGE) return live;
    after = page[page.length - 1]!.id;
  }
}

/**
 * The outbox entry for `id`, pending or dead, if any: the store's `getOutboxEntry`, else read inside a
 * transaction (`RelationalTx.getOutboxEntry`).
 */
export function readOutboxEntry(
  store: RelationalStore<unknown>,
  id: string,
): Promise<OutboxEntry | undefined> {
  if (store.getOutboxEntry) return store.getOutboxEntry(id);
  return store.transaction((tx) => tx.getOutboxEntry(id));
}

/**
 * Enqueues delivery of each id's current state in one transaction (repair after reconciliation or
 * recovery): `upsert` at a live record's version, `delete` at a tombstone's, and for an id with no row a
 * `delete` at the highest version handed out (so a late upsert of an older version is fenced out).
 * Returns the number of distinct ids enqueued. Uses the store's `enqueueRepairs` when it has one, else
 * {@link enqueueRepairsInTx}.
 */
export async function enqueueRepairs(
  store: RelationalStore<unknown>,
  ids: readonly string[],
  now: number,
): Promise<number> {
  if (store.enqueueRepairs) return store.enqueueRepairs(ids, now);
  if (ids.length === 0) return 0;
  const highest = await store.currentVersion();
  return store.transaction((tx) => enqueueRepairsInTx(tx, ids, now, highest));
}

/**
 * The generic rule of {@link enqueueRepairs} inside `tx`: ids locked and handled in code point order; an id
 * with no row gets a `delete` at `highest`, the store's `currentVersion()` read before the transaction, or at
 * its pending entry's version if that is higher (vector deletes are unconditional, so the version only
 * orders the entry against its leases).
 */
export async function enqueueRepairsInTx(
  tx: RelationalTx<unknown>,
  ids: readonly string[],
  now: number,
  highest: number,
): Promise<number> {
  const distinct = [...new Set(ids)].sort(compareCodePoints);
  if (distinct.length > 0) await tx.lockRecords?.(distinct);
  for (const id of distinct) {
    const record = await tx.getRecord(id);
    if (record === undefined) {
      // Never below an entry enqueued since `highest` was read (another repair of the id).
      const queued = await tx.getOutboxEntry(id);
      await tx.enqueue(id, Math.max(highest, queued?.version ?? 0), 'delete', now);
    } else await tx.enqueue(id, record.version, record.deleted ? 'delete' : 'upsert', now);
  }
  return distinct.length;
}

/**
 * Stores an embedding computed after the write, only if the record is live and still at `version` (the
 * version, content hash and sync mark do not change). `false` when the record moved on, was deleted or is
 * gone. One {@link setEmbeddings} update.
 */
export async function setEmbedding(
  store: RelationalStore<unknown>,
  id: string,
  version: number,
  embedding: readonly number[],
): Promise<boolean> {
  const [stored] = await setEmbeddings(store, [{ id, version, embedding }]);
  return stored!;
}

/**
 * Stores embeddings computed after the writes, each only as {@link setEmbedding} would. Uses the store's
 * `setEmbeddings` when it has one, else {@link setEmbeddingInTx} for each, in order, in one transaction.
 * @returns per update, in order, whether it was stored.
 * @throws what the store threw; some updates may have been stored then (storing one again changes nothing).
 */
export function setEmbeddings(
  store: RelationalStore<unknown>,
  updates: readonly EmbeddingUpdate[],
): Promise<boolean[]> {
  if (store.setEmbeddings) return store.setEmbeddings(updates);
  return store.transaction(async (tx) => {
    const stored: boolean[] = [];
    for (const u of updates) stored.push(await setEmbeddingInTx(tx, u.id, u.version, u.embedding));
    return stored;
  });
}

/** The generic rule of {@link setEmbedding} inside `tx`: the row rewritten with only its embedding changed. */
export async function setEmbeddingInTx(
  tx: RelationalTx<unknown>,
  id: string,
  version: number,
  embedding: readonly number[],
): Promise<boolean> {
  const record = await tx.getRecord(id);
  if (record === undefined || record.deleted || record.version !== version) return false;
  await tx.writeRecord({ ...record, embedding, now: record.updatedAt });
  return true;
}
