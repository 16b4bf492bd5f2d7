/**
 * The contract suite must catch real adapter bugs. Each case wraps the real LanceDbVectorStore with one
 * deliberate bug, runs the check that should catch it, and asserts the check rejects. A pass-through
 * wrapper runs the same checks as a control, so a rejection is due to the bug and not the harness.
 */
import { rm } from 'node:fs/promises';
import type { VectorHit, VectorIdPage, VectorQueryOptions, VectorRecord, VectorStore } from '@dualwrite/core';
import {
  type VectorStoreCheckName,
  type VectorStoreFactory,
  vectorStoreChecks,
} from '@dualwrite/core/testing';
import { connect, type Table } from '@lancedb/lancedb';
import { describe, expect, it } from 'vitest';
import { LanceDbVectorStore, toLanceTable } from '../src/index.js';
import { tempDir } from './helpers.js';

/** Delegates everything to the real store; subclasses override one method with a bug. */
class Delegating implements VectorStore {
  constructor(
    protected readonly inner: LanceDbVectorStore,
    /** The same LanceDB table, opened separately, for bugs that bypass the adapter. */
    protected readonly raw: Table,
  ) {}
  get name() {
    return this.inner.name;
  }
  get dimension() {
    return this.inner.dimension;
  }
  get maxBatchSize() {
    return this.inner.maxBatchSize;
  }
  upsert(records: readonly VectorRecord[]) {
    return this.inner.upsert(records);
  }
  delete(ids: readonly string[]) {
    return this.inner.delete(ids);
  }
  query(embedding: readonly number[], options: VectorQueryOptions) {
    return this.inner.query(embedding, options);
  }
  getVersions(ids: readonly string[]) {
    return this.inner.getVersions(ids);
  }
  listIds(options: { cursor?: string; limit: number }) {
    return this.inner.listIds(options);
  }
  count() {
    return this.inner.count();
  }
  ping() {
    return this.inner.ping();
  }
  close() {
    return this.inner.close();
  }
}

type Wrapper = new (inner: LanceDbVectorStore, raw: Table) => VectorStore;

function factoryFor(Wrap: Wrapper): VectorStoreFactory {
  return async ({ dimension }) => {
    const uri = await tempDir();
    const inner = await LanceDbVectorStore.open({ uri, dimension, maxBatchSize: 64 });
    const db = await connect(uri, { readConsistencyInterval: 0 });
    const raw = await db.openTable('dualwrite');
    return {
      store: new Wrap(inner, raw),
      async cleanup() {
        await inner.close();
        raw.close();
        db.close();
        await rm(uri, { recursive: true, force: true });
      },
    };
  };
}

const bugs: { bug: string; check: VectorStoreCheckName; Wrap: Wrapper }[] = [
  {
    bug: 'deletes with an unescaped predicate',
    check: 'nastyIdsRoundTripAndDeleteOnlyThemselves',
    Wrap: class extends Delegating {
      override async delete(ids: readonly string[]) {
        for (const id of ids) await this.raw.delete(`id = '${id}'`);
      }
    },
  },
  {
    bug: 'escapes quotes with a backslash (MySQL style) instead of doubling them',
    check: 'nastyIdsRoundTripAndDeleteOnlyThemselves',
    Wrap: class extends Delegating {
      override async getVersions(ids: readonly string[]) {
        const out = new Map<string, number>();
        if (ids.length === 0) return out;
        const list = ids.map((id) => `'${id.replaceAll("'", "\\'")}'`).join(', ');
        const rows = await this.raw.query().where(`id IN (${list})`).select(['id', 'version']).toArray();
        for (const row of rows) out.set(row.id, Number(row.version));
        return out;
      }
    },
  },
  {
    bug: 'does not collapse duplicate ids before merge insert',
    check: 'duplicateIdsInOneBatchLastWins',
    Wrap: class extends Delegating {
      override async upsert(records: readonly VectorRecord[]): Promise<undefined> {
        if (records.length === 0) return;
        const rows = records.map((r) => ({ ...r, metadataJson: JSON.stringify(r.metadata) }));
        await this.raw
          .mergeInsert('id')
          .whenMatchedUpdateAll()
          .whenNotMatchedInsertAll()
          .execute(toLanceTable(rows, this.dimension));
      }
    },
  },
  {
    bug: 'collapses duplicate ids keeping the first instead of the last',
    check: 'duplicateIdsInOneBatchLastWins',
    Wrap: class extends Delegating {
      override upsert(records: readonly VectorRecord[]) {
        const seen = new Set<string>();
        return this.inner.upsert(records.filter((r) => !seen.has(r.id) && seen.add(r.id)));
      }
    },
  },
  {
    bug: 'drops the last chunk of a large batch',
    check: 'batchesLargerThanMaxBatchSize',
    Wrap: class extends Delegating {
      override async upsert(records: readonly VectorRecord[]): Promise<undefined> {
        const size = this.maxBatchSize;
        const chunks = Math.ceil(records.length / size);
        for (let c = 0; c < Math.max(1, chunks - 1); c++)
          await this.inner.upsert(records.slice(c * size, (c + 1) * size));
      }
    },
  },
  {
    bug: 'writes record by record, so a bad record leaves the good ones written',
    check: 'nonFiniteComponentsRejected',
    Wrap: class extends Delegating {
      override async upsert(records: readonly VectorRecord[]): Promise<undefined> {
        for (const r of records) await this.inner.upsert([r]);
      }
    },
  },
  {
    bug: 'same partial write, caught by the dimension check too',
    check: 'wrongDimensionRejected',
    Wrap: class extends Delegating {
      override async upsert(records: readonly VectorRecord[]): Promise<undefined> {
        for (const r of records) await this.inner.upsert([r]);
      }
    },
  },
  {
    bug: 'post-filters the unfiltered top k (no over-fetch)',
    check: 'metadataEqualityFilter',
    Wrap: class extends Delegating {
      override async query(embedding: readonly number[], options: VectorQueryOptions) {
        const hits = await this.inner.query(embedding, { k: options.k });
        const filter = Object.entries(options.filter ?? {});
        return hits.filter((h) => filter.every(([k, v]) => h.metadata[k] === v));
      }
    },
  },
  {
    bug: 'reports the raw distance as the score (lower is better)',
    check: 'kRespectedAndBestFirst',
    Wrap: class extends Delegating {
      override async query(embedding: readonly number[], options: VectorQueryOptions): Promise<VectorHit[]> {
        return (await this.inner.query(embedding, options)).map((h) => ({ ...h, score: h.distance }));
      }
    },
  },
  {
    bug: 'returns k + 1 hits',
    check: 'kRespectedAndBestFirst',
    Wrap: class extends Delegating {
      override async query(embedding: readonly number[], options: VectorQueryOptions) {
        return this.inner.query(embedding, { ...options, k: Math.min(1000, options.k + 1) });
      }
    },
  },
  {
    bug: 'stores metadata values as strings',
    check: 'metadataTypesRoundTrip',
    Wrap: class extends Delegating {
      override upsert(records: readonly VectorRecord[]) {
        return this.inner.upsert(
          records.map((r) => ({
            ...r,
            metadata: Object.fromEntries(Object.entries(r.metadata).map(([k, v]) => [k, String(v)])),
          })),
        );
      }
    },
  },
  {
    bug: 'truncates long text',
    check: 'emptyAndLongTextRoundTrip',
    Wrap: class extends Delegating {
      override upsert(records: readonly VectorRecord[]) {
        return this.inner.upsert(records.map((r) => ({ ...r, text: r.text.slice(0, 65_535) })));
      }
    },
  },
  {
    bug: 'listIds repeats the last item of each page (off-by-one cursor)',
    check: 'listIdsPagesThroughEverything',
    Wrap: class extends Delegating {
      override async listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage> {
        const page = await this.inner.listIds(options);
        if (page.items.length < 2 || page.nextCursor === undefined) return page;
        // Cursor pointing one item earlier: the next page starts with the last item of this one.
        const inner = await this.inner.listIds({
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
          limit: page.items.length - 1,
        });
        return { items: page.items, nextCursor: inner.nextCursor };
      }
    },
  },
  {
    bug: 'listIds never ends (always returns a cursor)',
    check: 'listIdsPagesThroughEverything',
    Wrap: class extends Delegating {
      override async listIds(options: { cursor?: string; limit: number }): Promise<VectorIdPage> {
        const page = await this.inner.listIds(options);
        return { items: page.items, nextCursor: page.nextCursor ?? options.cursor ?? 'start-again' };
      }
    },
  },
  {
    bug: 'getVersions reports unknown ids with version 0',
    check: 'upsertThenRead',
    Wrap: class extends Delegating {
      override async getVersions(ids: readonly string[]) {
        const found = await this.inner.getVersions(ids);
        for (const id of ids) if (!found.has(id)) found.set(id, 0);
        return found;
      }
    },
  },
  {
    bug: 'delete throws on unknown ids',
    check: 'deleteUnknownIsNotAnError',
    Wrap: class extends Delegating {
      override async delete(ids: readonly string[]) {
        const known = await this.inner.getVersions(ids);
        if (ids.some((id) => !known.has(id))) throw new Error('unknown id');
        await this.inner.delete(ids);
      }
    },
  },
  {
    bug: 'close is not idempotent',
    check: 'closeIsIdempotentAndFinal',
    Wrap: class extends Delegating {
      #closed = false;
      override async close() {
        if (this.#closed) throw new Error('already closed');
        this.#closed = true;
        await this.inner.close();
      }
    },
  },
  {
    bug: 'count keeps answering after close',
    check: 'closeIsIdempotentAndFinal',
    Wrap: class extends Delegating {
      #closed = false;
      override async close() {
        this.#closed = true;
        await this.inner.close();
      }
      override async count() {
        return this.#closed ? 0 : this.inner.count();
      }
    },
  },
];

describe('the VectorStore contract suite rejects broken adapters', () => {
  for (const { bug, check, Wrap } of bugs) {
    it(`${check} catches: ${bug}`, async () => {
      await expect(vectorStoreChecks[check](factoryFor(Wrap))).rejects.toThrow();
    });
  }

  const controls = [...new Set(bugs.map((b) => b.check))];
  it(`the pass-through wrapper passes the same checks (${controls.length})`, async () => {
    for (const check of controls) await vectorStoreChecks[check](factoryFor(Delegating));
  });
});
