import type { OutboxOp } from '../contracts/outbox.js';
import type { RecordWrite, RelationalTx } from '../contracts/relational-store.js';
import type { Change, WriteResult } from '../contracts/write-strategy.js';
import { contentHash } from '../record/content-hash.js';
import { toFloat32Precision } from '../record/embedding-codec.js';
import type { Metadata, StoredRecord } from '../record/types.js';

/** A change resolved against the record's current state inside a transaction. */
export interface PlannedChange {
  id: string;
  /** The record before the change (tombstones included), for compensation. */
  previous: StoredRecord | undefined;
  /** The row to write, or `null` when the change is a no-op. */
  next: RecordWrite | null;
  op: OutboxOp;
}

/**
 * Resolves `change` against the current row: assigns the next version, or decides it is a no-op
 * (a put whose text, metadata and embedding equal the live record's, or a delete of an absent id).
 * A put without an embedding reuses the stored one when the text is unchanged, so the embedder is not
 * called again; otherwise the embedding stays `null` for the embedder to fill.
 */
export async function planChange(tx: RelationalTx, change: Change, now: number): Promise<PlannedChange> {
  const id = change.op === 'put' ? change.record.id : change.id;
  const previous = await tx.getRecord(id);
  const live = previous && !previous.deleted ? previous : undefined;
  if (change.op === 'delete') {
    if (!live) return { id, previous, next: null, op: 'delete' };
    const version = await tx.nextVersion();
    return {
      id,
      previous,
      op: 'delete',
      next: {
        id,
        text: '',
        embedding: null,
        metadata: {},
        version,
        deleted: true,
        contentHash: '',
        syncedVersion: live.syncedVersion,
        now,
      },
    };
  }
  const { text, metadata } = change.record;
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
  ) {
    return { id, previous, next: null, op: 'upsert' };
  }
  const version = await tx.nextVersion();
  return {
    id,
    previous,
    op: 'upsert',
    next: {
      id,
      text,
      embedding,
      metadata,
      version,
      deleted: false,
      contentHash: contentHash(text, metadata, embedding),
      syncedVersion: live?.syncedVersion ?? previous?.syncedVersion ?? null,
      now,
    },
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
 * transaction. Changes to one id apply in order, so the last one wins. Ids are visited in sorted order
 * (stable, so per-id order holds), so two concurrent calls touching the same ids in different orders
 * take row locks in the same order and cannot deadlock. Results come back in input order.
 */
export async function writeChangesWithOutbox(
  tx: RelationalTx,
  changes: readonly Change[],
  now: number,
): Promise<WriteResult[]> {
  const order = changes
    .map((_, i) => i)
    .sort((a, b) => compareIds(idOf(changes[a]!), idOf(changes[b]!)) || a - b);
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

function idOf(change: Change): string {
  return change.op === 'put' ? change.record.id : change.id;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function metadataEqual(a: Metadata, b: Metadata): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function embeddingEqual(a: readonly number[] | null, b: readonly number[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
