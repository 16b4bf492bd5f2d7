import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDualWrite, HashingEmbedder, type StrategyName, verifyConsistency } from '@dualwrite/core';
import { SqliteRelationalStore } from '@dualwrite/sqlite';
import { describe, expect, it } from 'vitest';
import { LanceDbVectorStore } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const TRIALS = Number(process.env.DUALWRITE_CRASH_TRIALS ?? 2);

type Ack = { op: 'put' | 'delete'; id: string; version: number | null; text?: string; changed?: boolean };

/**
 * Spawns the writer and SIGKILLs it after `killAfter` acknowledged writes. Returns every write it
 * acknowledged (reading its output to the end) and the one write in flight when it died, if any.
 */
async function runAndKill(
  dir: string,
  strategy: StrategyName,
  seed: number,
  killAfter: number,
): Promise<{ acks: Ack[]; inFlight: { intent: 'put' | 'delete'; id: string } | undefined }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      tsxLoader,
      join(here, 'fixtures/crash-writer.ts'),
      dir,
      strategy,
      '400',
      `${seed}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const acks: Ack[] = [];
  let inFlight: { intent: 'put' | 'delete'; id: string } | undefined;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for await (const line of createInterface({ input: child.stdout! })) {
    const msg = JSON.parse(line);
    if (msg.intent) inFlight = msg;
    if (msg.op) {
      acks.push(msg);
      inFlight = undefined;
    }
    if (acks.length === killAfter) child.kill('SIGKILL');
  }
  await exited;
  if (acks.length === 0) throw new Error(`writer produced no acks: ${stderr}`);
  return { acks, inFlight };
}

describe.each(['sync-2pc', 'async-queue', 'batch'] as const)('crash recovery (%s)', (strategy) => {
  for (let trial = 0; trial < TRIALS; trial++) {
    const seed = 1000 * (trial + 1) + strategy.length;
    it(`a writer SIGKILLed mid-stream loses nothing acknowledged (seed ${seed})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dw-crash-'));
      try {
        const killAfter = 20 + (seed % 97);
        const { acks, inFlight } = await runAndKill(dir, strategy, seed, killAfter);
        const relational = new SqliteRelationalStore({ path: join(dir, 'source.db') });
        const vector = await LanceDbVectorStore.open({ uri: join(dir, 'lance'), dimension: 16 });
        const dw = await createDualWrite({
          relational,
          vector,
          embedder: new HashingEmbedder({ dimension: 16 }),
          strategy,
          delivery: { leaseMs: 500, intentTtlMs: 500, pollIntervalMs: 10, recoveryIntervalMs: 100 },
        });
        try {
          await dw.flush({ timeoutMs: 20_000 });
          // Every acknowledged write is in the source of truth (or superseded by a later write).
          const last = new Map<string, Ack>();
          for (const a of acks) last.set(a.id, a);
          for (const [id, ack] of last) {
            const rec = (await relational.getRecords([id], { includeDeleted: true })).get(id);
            // The write in flight at the kill may or may not have committed.
            const maybeDeleted = inFlight?.intent === 'delete' && inFlight.id === id;
            if (ack.op === 'put' && !(maybeDeleted && (!rec || rec.deleted))) {
              expect(rec, `acknowledged put of ${id} lost`).toBeDefined();
              expect(rec!.version).toBeGreaterThanOrEqual(ack.version!);
              if (rec!.version === ack.version) expect(rec!.text).toBe(ack.text);
            } else if (rec && !rec.deleted && ack.version !== null) {
              expect(rec.version, `acknowledged delete of ${id} undone`).toBeGreaterThan(ack.version);
            }
          }
          // And the index equals the source of truth exactly.
          const report = await verifyConsistency(relational, vector);
          expect(report, JSON.stringify(report.examples)).toMatchObject({ lost: 0, stale: 0, orphans: 0 });
        } finally {
          await dw.close({ drain: false });
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
