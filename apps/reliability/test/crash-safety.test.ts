/**
 * Crash safety: for every strategy × vector backend, writer processes over real stores are SIGKILLed at
 * planned moments (by ack count, by time, or inside a vector call / multi-record vector call / SQL commit /
 * sync-2pc compensation, made likely by injected latency), restarted and drained; everything they saw
 * acknowledged must be in the source of truth (SQLite, or MySQL / MariaDB) exactly, and the index must equal
 * it exactly.
 *
 * DUALWRITE_RELIABILITY_TRIALS (default 2) trials per combination; DUALWRITE_RELIABILITY_SEED fixes the
 * base seed (default: from the clock, printed in the test names). A failing trial prints the command that
 * replays it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STRATEGY_NAMES } from '@dualwrite/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { planTrial, runCrashTrial, type TrialResult } from '../src/crash-trial.js';
import type { RelationalBackendName, VectorBackendName } from '../src/protocol.js';
import { replayCommand } from '../src/soak.js';
import { trialDatabases } from '../src/trial-databases.js';

const TRIALS = Number(process.env.DUALWRITE_RELIABILITY_TRIALS ?? 2);
const SEED = Number(process.env.DUALWRITE_RELIABILITY_SEED ?? Date.now() % 1_000_000);
/** Every strategy × vector backend on SQLite, and every strategy on a MySQL / MariaDB server with LanceDB. */
const COMBINATIONS: { vector: VectorBackendName; relational: RelationalBackendName }[] = [
  { vector: 'lancedb', relational: 'sqlite' },
  { vector: 'chroma', relational: 'sqlite' },
  { vector: 'lancedb', relational: 'mysql' },
];

describe(`crash safety: SIGKILLed writers lose nothing acknowledged (base seed ${SEED}, ${TRIALS} trials each)`, () => {
  let workDir: string;
  const results: TrialResult[] = [];

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'dualwrite-crash-'));
  });

  afterAll(async () => {
    const kills = results.filter((r) => r.killed).length;
    const fallback = results.filter((r) => r.fallbackKill).length;
    const acks = results.reduce((n, r) => n + r.acks, 0);
    const violations = results.reduce((n, r) => n + r.violations.length, 0);
    const repaired = results.filter((r) => r.vendorFaults.length > 0).length;
    const line = `[crash-safety] seed ${SEED}: ${results.length} trials, ${kills} kills (${fallback} by the fallback timer), ${acks} writes acknowledged, ${violations} violations, ${repaired} vector-server faults repaired`;
    console.log(line);
    const artifacts = join(import.meta.dirname, '..', 'test-artifacts');
    await mkdir(artifacts, { recursive: true });
    await writeFile(
      join(artifacts, 'crash-safety.json'),
      `${JSON.stringify({ seed: SEED, results }, null, 2)}\n`,
    );
    if (violations === 0) await rm(workDir, { recursive: true, force: true });
  });

  for (const strategy of STRATEGY_NAMES)
    for (const { vector, relational } of COMBINATIONS)
      it.concurrent(`${strategy} × ${relational} + ${vector}`, async () => {
        const chromaUrl = inject('chromaUrl');
        const databases = trialDatabases(relational);
        let killed = 0;
        for (let i = 0; i < TRIALS; i++) {
          const plan = planTrial(SEED + i, strategy, vector);
          const r = await runCrashTrial(plan, { workDir, chromaUrl, databases });
          results.push(r);
          const context = `${JSON.stringify(plan)}\nreplay: ${replayCommand(plan.seed, strategy, vector, relational)}\nkept data: ${r.keptDir}\nrecovery events: ${r.recoveryEvents.join('\n  ') || 'none'}\nvector-server faults: ${r.vendorFaults.join('\n  ') || 'none'}`;
          expect(r.error, context).toBeUndefined();
          expect(r.violations, context).toEqual([]);
          expect(r.consistency, context).toMatchObject({ lost: 0, stale: 0, mismatched: 0, orphans: 0 });
          if (r.killed) killed++;
        }
        // A writer is killed by its planned trigger or, failing that, after FALLBACK_KILL_MS; only a writer that
        // finishes all its calls sooner (rare: ~1 trial in 300) closes unkilled — and is checked all the same.
        expect(killed, 'trials that really killed their writer').toBeGreaterThan(0);
      });
});
