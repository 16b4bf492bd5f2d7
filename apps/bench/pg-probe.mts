import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openVector } from '@dualwrite/config';
import { createDualWrite, HashingEmbedder } from '@dualwrite/core';
import { PostgresRelationalStore } from '@dualwrite/postgres';

const dir = mkdtempSync(join(tmpdir(), 'pgprobe-'));
const dim = 384;
const schema = `probe_${process.pid}`;
const relational = new PostgresRelationalStore({
  connectionString: 'postgres://postgres@127.0.0.1:5432/test',
  schema,
} as never);
const { store: vector } = await openVector(
  { kind: 'lancedb', lancedbDir: join(dir, 'l'), collection: 't' } as never,
  dim,
);
const dw = await createDualWrite({
  relational,
  vector,
  strategy: { name: (process.env.S ?? 'batch') as 'batch' },
});
if (process.env.PAUSE) dw.pause();
const emb = new HashingEmbedder({ dimension: dim });
const N = 1000;
const recs = Array.from({ length: N }, (_, i) => ({
  id: `r-${i}`,
  text: `text number ${i} `.repeat(10),
  metadata: { i, kind: 'x' },
  embedding: emb.embedOne(`t${i}`),
}));
const lat: number[] = [];
for (const r of recs) {
  const t = performance.now();
  await dw.put(r);
  lat.push(performance.now() - t);
}
lat.sort((a, b) => a - b);
console.log(
  process.env.PAUSE ? 'paused' : 'live',
  'p50',
  lat[N / 2]!.toFixed(3),
  'p90',
  lat[Math.floor(N * 0.9)]!.toFixed(3),
);
await dw.close({ drain: false, timeoutMs: 2000 });
const pg = (await import('pg')).default;
const c = new pg.Client('postgres://postgres@127.0.0.1:5432/test');
await c.connect();
await c.query(`DROP SCHEMA ${schema} CASCADE`);
await c.end();
