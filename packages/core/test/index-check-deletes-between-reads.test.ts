/**
 * A check reads SQL and the index at different moments; a plain delete landing between two of its reads moved
 * one side and not the other, and the check reported a drift — a full repair — with nothing lost (found by a
 * break-it trial on PostgreSQL and MariaDB under delete storms).
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, type DualWrite } from '../src/index.js';
import {
  MemoryRelationalData,
  MemoryRelationalStore,
  MemoryVectorData,
  MemoryVectorStore,
} from '../src/testing/index.js';

const DIM = 4;
const IDS = Array.from({ length: 20 }, (_, i) => `x${i}`);

/** Runs once, when armed, after the hooked read. */
let between: (() => Promise<void>) | null = null;
async function runBetween() {
  const run = between;
  between = null;
  await run?.();
}

class HookedVector extends MemoryVectorStore {
  override async count() {
    const n = await super.count();
    await runBetween();
    return n;
  }
}

class HookedRelational extends MemoryRelationalStore {
  hook: 'recentlySynced' | 'intents' | undefined;
  override async recentlySynced(...args: Parameters<MemoryRelationalStore['recentlySynced']>) {
    const found = await super.recentlySynced(...args);
    if (this.hook === 'recentlySynced') await runBetween();
    return found;
  }
  override async listExpiredIntents(now: number, limit: number) {
    if (this.hook === 'intents' && now === Number.MAX_SAFE_INTEGER) await runBetween();
    return super.listExpiredIntents(now, limit);
  }
}

describe('a delete between two reads of a check', () => {
  it.each([
    { read: "the index's first row count (a surplus)", strategy: 'async-queue', hook: 'count' },
    { read: 'the live count and the intents (a shortfall)', strategy: 'sync-2pc', hook: 'intents' },
    { read: 'the acknowledged writes and the index look-up', strategy: 'sync-2pc', hook: 'recentlySynced' },
    {
      read: 'the acknowledged writes and the index look-up',
      strategy: 'async-queue',
      hook: 'recentlySynced',
    },
  ] as const)('after $read, $strategy: no drift', async ({ strategy, hook }) => {
    const [data, index] = [new MemoryRelationalData(), new MemoryVectorData()];
    const writer: DualWrite = await createDualWrite({
      relational: new MemoryRelationalStore({ data }),
      vector: new MemoryVectorStore({ dimension: DIM, data: index }),
      strategy,
      delivery: { pollIntervalMs: 5 },
      driftCheck: false,
    });
    const relational = new HookedRelational({ data });
    const checker = await createDualWrite({
      relational,
      vector: new HookedVector({ dimension: DIM, data: index }),
      strategy: 'async-queue',
      deliver: false,
      driftCheck: false,
    });
    const drifts: string[] = [];
    checker.events.on('index-drift', (d) => drifts.push(d.reason));
    try {
      await writer.putMany(IDS.map((id, i) => ({ id, text: id, embedding: [1, i, 0, 0] })));
      await writer.flush();
      await checker.checkIndex();
      let deleted = 0;
      // Every reading of the check (it reads twice before it reports) meets a delete at the same point.
      const arm = () => {
        between = async () => {
          await writer.delete(IDS[19 - deleted++]!);
          await writer.flush();
          arm();
        };
      };
      arm();
      if (hook !== 'count') relational.hook = hook;
      await checker.checkIndex();
      between = null;
      relational.hook = undefined;
      expect(deleted, 'the deletes landed inside the check').toBeGreaterThan(0);
      expect(drifts).toEqual([]);
    } finally {
      between = null;
      await checker.close();
      await writer.close();
    }
  });
});
