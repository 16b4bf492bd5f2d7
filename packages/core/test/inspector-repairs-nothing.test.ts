/**
 * A process that neither delivers nor checks (`deliver: false`, `driftCheck: false`: the `dualwrite` operator
 * commands open the library so) writes nothing when its start-up check finds the index drifted: it reports the
 * drift and leaves the repair to the processes that check. helper-54: `dualwrite reconcile --dry-run`, `verify`
 * and `status` each enqueued the full repair while saying they changed nothing.
 */
import { describe, expect, it } from 'vitest';
import { createDualWrite, HashingEmbedder } from '../src/index.js';
import { MemoryRelationalStore, MemoryVectorStore } from '../src/testing/index.js';

const DIM = 8;

describe('an inspecting process', () => {
  it('reports the drift its start-up check found and enqueues no repair; a writer that checks repairs it', async () => {
    const relational = new MemoryRelationalStore();
    const vector = new MemoryVectorStore({ dimension: DIM });
    const embedder = new HashingEmbedder({ dimension: DIM });
    const common = { relational, vector, strategy: 'async-queue' as const, closeStores: false };
    const app = await createDualWrite({ ...common, embedder });
    for (let i = 0; i < 5; i++) await app.put({ id: `r${i}`, text: `record ${i}` });
    await app.flush();
    await app.close();
    await vector.delete(['r4']); // behind dualwrite's back

    const inspector = await createDualWrite({ ...common, deliver: false, driftCheck: false });
    const drift = (await inspector.stats()).indexDrift;
    await inspector.close();
    expect(drift?.reason, 'the drift is reported').toMatch(/lacks|rows|holds/);
    expect((await relational.outboxStats(Date.now())).depth, 'no repair enqueued').toBe(0);
    expect(await relational.getMeta('index-drift'), 'nothing recorded').toBeUndefined();

    const writer = await createDualWrite({ ...common, deliver: false });
    await writer.close();
    expect((await relational.outboxStats(Date.now())).depth, 'a writer that checks enqueues the repair').toBe(
      1,
    );
  });
});
