import type { OutboxOp } from '../contracts/outbox.js';
import type { RecordWrite, RelationalTx } from '../contracts/relational-store.js';
import type { Change, WriteResult } from '../contracts/write-strategy.js';
import { contentHash } from '../record/content-hash.js';
import { toFloat32Precision } from '../record/embedding-codec.js';
import { embeddingEqual, metadataEqual } from '../record/record-equality.js';
import type { StoredRecord } from '../record/types.js';

/** A change resolved against the record's current state inside a transaction. */
export interface PlannedChange {
  id: string;
  /** The record before the change (tombstones included), for compensation. */
  previous: StoredRecord | undefined;
  /** The row to write, or `null` when the change is a no-op. */
  next: RecordWrite | null;
  op: OutboxOp;
}

/** A change resolved against the record's current row, before its version is drawn. */
export interface ChangePlan {
  id: string;
  /** The record before the change (tombstones included). */
  previous: StoredRecord | undefined;
  /** The row to write (its version still to be drawn), or `null` when the change is a no-op. */
  next: Omit<RecordWrite, 'version'> | null;
  op: OutboxOp;
}

/**
 * Resolves `change` against `previous` (the current row, tombstones included): the row to write, or a no-op
 * (a put whose text, metadata and embedding equal the live record's, or a delete of an absent id). A put
 * without an embedding reuses the stored one when the text is unchanged, so the embedder is not called
 * again; otherwise the embedding stays `null` for the embedder to fill. The row's `contentHash` covers the
 * embedding the caller gave, none when it gave none (reused, or filled by the embedder): that is how a stored
 * embedding is known to be the embedder's ({@link filledByEmbedder}). Pure: the caller draws the version.
 */
export function planOne(change: Change, previous: StoredRecord | undefined, now: number): ChangePlan {
  const id = changeId(change);
  const live = previous && !previous.deleted ? previous : undefined;
  if (change.op === 'delete') {
    if (!live) return { id, previous, next: null, op: 'delete' };
    const next = {
      id,
      text: '',
      embedding: null,
      metadata: {},
      deleted: true,
      contentHash: '',
      syncedVersion: live.syncedVersion,
      now,
    };
    return { id, previous, op: 'delete', next };
  }
  const { text, metadata } = change.record;
  const given = change.record.embedding !== undefined && change.embeddingFilled !== true;
  const embedding =
    change.record.embedding !== undefined
      ? toFloat32Precision(change.record.embedding)
      : live && live.text === text
        ? live.embedding
        : null;
  if (
    live &&
    live.text === text &&
    metadataEqual(live.metadata, metadata) &&
    embeddingEqual(live.embedding, embedding)
  )
    return { id, previous, next: null, op: 'upsert' };
  const next = {
    id,
    text,
    embedding,
    metadata,
    deleted: false,
    contentHash: contentHash(text, metadata, given ? embedding : null),
    syncedVersion: live?.syncedVersion ?? previous?.syncedVersion ?? null,
    now,
  };
  return { id, previous, op: 'upsert', next };
}

/** {@link planOne} inside a transaction: reads the row (taking the id's lock), then draws the version. */
export async function planChange(tx: RelationalTx, change: Change, now: number): Promise<PlannedChange> {
  const plan = planOne(change, await tx.getRecord(changeId(change)), now);
  if (plan.next === null) return { ...plan, next: null };
  return { ...plan, next: { ...plan.next, version: await tx.nextVersion() } };
}

/** The rows a batch of changes writes, and how their versions map back to the caller's results. */
export interface WritePlan {
  /** Ids the batch touches, sorted (the order their locks are taken and their rows planned). */
  ids: string[];
  /**
   * Rows to write, in the order their versions must be drawn (increasing) and written. An id changed more
   * than once has several rows; writing only its last is not the same (a tombstone coming back to life in
   * between resets `createdAt`).
   */
  rows: { next: Omit<RecordWrite, 'version'>; op: OutboxOp }[];
  /** The results in input order, given the versions drawn for {@link rows} (same order). */
  results(versions: readonly number[]): WriteResult[];
}

/**
 * Plans `changes` exactly as {@link writeChangesWithOutbox} applies them — ids in sorted order, each id's
 * changes in input order, a later change planned against the earlier one's row — against `current`, the rows
 * of {@link WritePlan.ids} read under their locks (missing ids absent). For a store that writes the whole
 * batch in a few statements (`RelationalStore.writeChanges`).
 */
export function planWrites(
  changes: readonly Change[],
  current: ReadonlyMap<string, StoredRecord>,
  now: number,
): WritePlan {
  if (changes.length === 1) return planSingle(changes[0]!, current, now);
  const order = changes
    .map((_, i) => i)
    .sort((a, b) => compareIds(changeId(changes[a]!), changeId(changes[b]!)) || a - b);
  const state = new Map<string, { record: StoredRecord | undefined; row: number | undefined }>();
  const rows: WritePlan['rows'] = [];
  const outcome = new Array<{ id: string; row: number | undefined; live: number | undefined | 'none' }>(
    changes.length,
  );
  for (const i of order) {
    const id = changeId(changes[i]!);
    const known = state.get(id) ?? { record: current.get(id), row: undefined };
    const plan = planOne(changes[i]!, known.record, now);
    if (plan.next === null) {
      const live = known.record && !known.record.deleted;
      outcome[i] = { id, row: live ? known.row : undefined, live: live ? known.record!.version : 'none' };
      state.set(id, known);
      continue;
    }
    const row = rows.push({ next: plan.next, op: plan.op }) - 1;
    // The row as it will be stored (the version is a placeholder until drawn; `row` tracks it).
    const record: StoredRecord = {
      ...plan.next,
      embedding: plan.next.embedding === null ? null : [...plan.next.embedding],
      version: -1,
      createdAt: now,
      updatedAt: now,
    };
    state.set(id, { record, row });
    outcome[i] = { id, row, live: undefined };
  }
  return {
    ids: [...new Set(order.map((i) => changeId(changes[i]!)))],
    rows,
    results: (versions) =>
      outcome.map(({ id, row, live }) =>
        live === undefined
          ? { id, version: versions[row!]!, changed: true }
          : {
              id,
              version: live === 'none' ? null : row !== undefined ? versions[row]! : live,
              changed: false,
            },
      ),
  };
}

/** {@link planWrites} of one change (every `put` and `delete`): no ordering, no per-id state to carry. */
function planSingle(change: Change, current: ReadonlyMap<string, StoredRecord>, now: number): WritePlan {
  const id = changeId(change);
  const plan = planOne(change, current.get(id), now);
  const { next } = plan;
  return {
    ids: [id],
    rows: next === null ? [] : [{ next, op: plan.op }],
    results: (versions) => [
      next === null ? resultOf({ ...plan, next: null }) : { id, version: versions[0]!, changed: true },
    ],
  };
}

/** The caller-facing result of a planned change. */
export function resultOf(plan: PlannedChange): WriteResult {
  if (plan.next) return { id: plan.id, version: plan.next.version, changed: true };
  const current = plan.previous && !plan.previous.deleted ? plan.previous.version : null;
  return { id: plan.id, version: current, changed: false };
}

/**
 * The transactional-outbox write: each change's record row and its outbox entry, in the caller's
 * transaction. Changes to one id apply in order, so the last one wins. The ids' locks are taken first, all at
 * once in the store's order (`tx.lockRecords`, where the store has it), and ids are visited in sorted order
 * (stable, so per-id order holds), so two concurrent calls touching the same ids in different orders — or
 * this path and a store's one-statement batch — cannot deadlock. Results come back in input order.
 */
export async function writeChangesWithOutbox(
  tx: RelationalTx,
  changes: readonly Change[],
  now: number,
): Promise<WriteResult[]> {
  const order = changes
    .map((_, i) => i)
    .sort((a, b) => compareIds(changeId(changes[a]!), changeId(changes[b]!)) || a - b);
  tx.beforeWrite?.();
  if (changes.length > 1) await tx.lockRecords?.(changes.map(changeId));
  const results = new Array<WriteResult>(changes.length);
  for (const i of order) {
    const plan = await planChange(tx, changes[i]!, now);
    if (plan.next) {
      await tx.writeRecord(plan.next);
      await tx.enqueue(plan.id, plan.next.version, plan.op, now);
    }
    results[i] = resultOf(plan);
  }
  return results;
}

/** The record id a change writes. */
export function changeId(change: Change): string {
  return change.op === 'put' ? change.record.id : change.id;
}

/**
 * The order core's writers take ids in (UTF-16 code units, JavaScript's `<`): `putMany`'s transaction path,
 * sync-2pc, the SQL stores' one-statement batches — so they lock ids in one order.
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
