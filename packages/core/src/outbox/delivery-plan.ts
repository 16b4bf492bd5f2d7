import type { OutboxLease } from '../contracts/outbox.js';
import type { EmbeddingUpdate } from '../contracts/relational-store.js';
import type { StrategyContext } from '../contracts/write-strategy.js';
import { embedWhileBound, unsearchableEmbedding } from '../embedders/embed-while-bound.js';
import { IndexBindingError, ValidationError } from '../errors.js';
import { readBinding } from '../integrity/index-binding.js';
import { filledByEmbedder } from '../record/embedding-provenance.js';
import type { VectorRecord } from '../record/types.js';
import { isSourceFault } from './failure-classification.js';
import { storeEmbeddingsBack } from './store-embeddings-back.js';

/** One leased entry resolved to the vector operation that makes the index match the current record. */
export type DeliveryItem =
  | { lease: OutboxLease; op: 'upsert'; record: VectorRecord; version: number }
  /** `tombstone`: the record's deleted row exists (at `version`), so the delete is version-fenced. */
  | { lease: OutboxLease; op: 'delete'; version: number; tombstone: boolean };

/**
 * The source of truth failed with `error` (an {@link isSourceFault}) while a delivery read the records or the
 * embedding cache: a fault of the store, not of the claim's records.
 */
export class SourcePlanningFailure extends Error {
  constructor(readonly error: unknown) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
    this.name = 'SourcePlanningFailure';
  }
}

/**
 * A failure of the relational store while planning, wrapped in {@link SourcePlanningFailure} when it is an
 * {@link isSourceFault}.
 */
function asPlanningFailure(error: unknown): unknown {
  return isSourceFault(error) ? new SourcePlanningFailure(error) : error;
}

/** `call`, its failure passed through {@link asPlanningFailure}. */
async function fromSource<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asPlanningFailure(error);
  }
}

/** A leased entry that cannot be delivered now, with its error. */
export interface UndeliverableItem {
  lease: OutboxLease;
  error: unknown;
  /**
   * `permanent`: never deliverable as it is (no embedding and no embedder; an unsearchable embedding);
   * `transient`: storing its embedding back failed for a reason of its own (charged, retried);
   * `source`: storing its embedding back met a fault of the store ({@link isSourceFault}: its row locked past the
   * lock timeout) — given back uncharged.
   */
  failure: 'permanent' | 'transient' | 'source';
}

/**
 * Reads the *current* state of each leased record (never the state at enqueue time) and turns it into a
 * vector operation: upsert at the current version, or delete for a tombstone or a missing row. Records
 * still lacking an embedding — or holding one the embedder filled for another dimension — are embedded now
 * (through the cache) and the embedding is stored back in the source of truth.
 *
 * Storing an embedding back is per record: one that fails leaves its record {@link UndeliverableItem undeliverable}
 * now while the others go on (an application holding one record's row must not hold up the rest).
 *
 * @throws {SourcePlanningFailure} wrapping a fault of the store ({@link isSourceFault}) reading the records or the
 *   embedding cache; what the embedder throws (the caller classifies it like a vector-store failure);
 *   {@link IndexBindingError} when the source is bound to another embedder than this process's (see
 *   `StrategyContext.assertEmbedderBound`): nothing is embedded, and the caller gives the leases back.
 */
export async function planDelivery(
  ctx: StrategyContext,
  leases: readonly OutboxLease[],
): Promise<{ items: DeliveryItem[]; undeliverable: UndeliverableItem[] }> {
  const records = await fromSource(() =>
    ctx.relational.getRecords(
      leases.map((l) => l.recordId),
      { includeDeleted: true },
    ),
  );
  const items: DeliveryItem[] = [];
  const undeliverable: UndeliverableItem[] = [];
  const toEmbed: { lease: OutboxLease; index: number }[] = [];
  /** Records to embed in a process without an embedder (one look at the binding decides for all of them). */
  const unembeddable: { lease: OutboxLease; id: string }[] = [];
  for (const lease of leases) {
    const rec = records.get(lease.recordId);
    if (!rec || rec.deleted) {
      items.push({
        lease,
        op: 'delete',
        version: rec?.version ?? lease.version,
        tombstone: rec !== undefined,
      });
      continue;
    }
    const record: VectorRecord = {
      id: rec.id,
      embedding: rec.embedding ?? [],
      text: rec.text,
      metadata: rec.metadata,
      version: rec.version,
    };
    // An embedding the embedder filled for another dimension (an embedder change with a new index) is stale
    // derived data: filled again here, like a missing one. One the caller gave is delivered as it is (the vector
    // store refuses it, naming the dimension).
    const stale =
      rec.embedding !== null &&
      rec.embedding.length !== ctx.vector.dimension &&
      ctx.embeddings !== undefined &&
      filledByEmbedder(rec);
    if (rec.embedding === null || stale) {
      if (!ctx.embeddings) {
        unembeddable.push({ lease, id: rec.id });
        continue;
      }
      toEmbed.push({ lease, index: items.length });
    }
    items.push({ lease, op: 'upsert', record, version: rec.version });
  }
  if (unembeddable.length > 0) await refuseWithoutBoundEmbedder(ctx);
  for (const { lease, id } of unembeddable)
    undeliverable.push({
      lease,
      error: new ValidationError(
        'embedding',
        `record ${JSON.stringify(id)} has no embedding and no embedder is configured`,
      ),
      failure: 'permanent',
    });
  if (toEmbed.length > 0 && ctx.embeddings) {
    const texts = toEmbed.map(({ index }) => (items[index] as { record: VectorRecord }).record.text);
    const vectors = await embedWhileBound(ctx, ctx.embeddings, texts, {
      cacheFailure: asPlanningFailure,
    });
    const refused = new Set<number>();
    const storing: { lease: OutboxLease; index: number; update: EmbeddingUpdate }[] = [];
    toEmbed.forEach(({ lease, index }, i) => {
      const item = items[index] as Extract<DeliveryItem, { op: 'upsert' }>;
      // Never indexed to be unfindable: dead-lettered with the reason (known only once embedded).
      const error = unsearchableEmbedding(ctx.vector, ctx.embeddings!, item.record.id, vectors[i]!);
      if (error) {
        refused.add(index);
        undeliverable.push({ lease, error, failure: 'permanent' });
        return;
      }
      item.record = { ...item.record, embedding: vectors[i]! };
      storing.push({
        lease,
        index,
        update: { id: item.record.id, version: item.version, embedding: vectors[i]! },
      });
    });
    const failures = await storeEmbeddingsBack(
      ctx.relational,
      storing.map((s) => s.update),
    );
    failures.forEach((failed, i) => {
      if (failed === undefined) return;
      const { lease, index } = storing[i]!;
      refused.add(index);
      undeliverable.push({
        lease,
        error: failed.error,
        failure: isSourceFault(failed.error) ? 'source' : 'transient',
      });
    });
    if (refused.size > 0) return { items: items.filter((_, i) => !refused.has(i)), undeliverable };
  }
  return { items, undeliverable };
}

/**
 * A record to embed, in a process configured without an embedder: when the source names one (its binding), this
 * process is the misconfigured one, not the record — the delivery stops here (its leases go back uncharged) and
 * the configured workers embed it. Before, such a worker dead-lettered every record it claimed that awaited its
 * embedding (a break-it round: 50 of 50, taken from the workers that would have embedded them).
 * @throws {IndexBindingError} on field `embedder` when the binding names an embedder.
 */
async function refuseWithoutBoundEmbedder(ctx: StrategyContext): Promise<void> {
  const bound = await fromSource(() => readBinding(ctx.relational));
  if (!bound || bound.embedder === null) return;
  throw new IndexBindingError(['embedder'], { ...bound }, { ...bound, embedder: null });
}
