/**
 * A sibling writer process: opens the facade over the shared SQLite file and vector index, waits for the
 * shared start time, puts the same ids as its siblings all at once (each id's text names the writer, so
 * every sibling really writes), closes with a drain and prints the number of acknowledged puts. Two of
 * them race to insert the same new ids into one index — the race that stored an id twice in LanceDB.
 * argv: a JSON {@link SiblingConfig}.
 */
import { createDualWrite, HashingEmbedder } from '@dualwrite/core';
import { openRelationalStore, openVectorStore, strategyConfig } from './backends.js';
import type { SiblingConfig } from './sibling-writers.js';

const config = JSON.parse(process.argv[2]!) as SiblingConfig;
const dw = await createDualWrite({
  relational: await openRelationalStore(config.relational, 10_000),
  vector: await openVectorStore(config.vector, config.dimension),
  embedder: new HashingEmbedder({ dimension: config.dimension }),
  strategy: strategyConfig(config.strategy, { maxBatchSize: 20, maxDelayMs: 10 }),
  driftCheck: false,
});
await new Promise((r) => setTimeout(r, Math.max(0, config.startAt - Date.now())));
const results = await Promise.allSettled(
  config.ids.map((id) => dw.put({ id, text: `${id} from ${config.tag}` })),
);
await dw.close({ drain: true, timeoutMs: 30_000 });
for (const r of results) if (r.status === 'rejected') process.stderr.write(`${String(r.reason)}\n`);
process.stdout.write(`${results.filter((r) => r.status === 'fulfilled').length}\n`);
