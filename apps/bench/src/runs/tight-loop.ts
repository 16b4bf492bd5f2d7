import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openRelational, openVector } from '@dualwrite/config';
import { createDualWrite, type StrategyConfig, verifyConsistency } from '@dualwrite/core';

/** Result of {@link runTightLoop}. Times in ms. */
export interface TightLoopResult {
  strategy: string;
  yieldEveryMs: number;
  seconds: number;
  /** `await dw.put()` calls made in the loop. */
  puts: number;
  /** Records delivered to the index while the loop ran (`synced` events). */
  deliveredDuringLoop: number;
  /** Outbox depth when the loop ended: how far delivery fell behind. */
  backlogAtEnd: number;
  /** Times a 10 ms interval timer fired during the loop (about `seconds * 100` when nothing starves it). */
  timerTicks: number;
  /** Longest gap between two ticks of that timer. */
  worstTimerDelayMs: number;
  /** Event-loop delay p99 and max during the loop (`perf_hooks.monitorEventLoopDelay`). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  writerYields: number;
  /** Time to drain what was left after the loop. */
  drainAfterMs: number;
  /** `verifyConsistency` after the drain. */
  lost: number;
  stale: number;
  duplicates: number;
}

/**
 * A tight `await dw.put()` loop with delivery in the same process (SQLite + LanceDB, caller-supplied
 * 384-d embeddings, 1,000 ids overwritten in turn) for `seconds`, with a 10 ms interval timer beside it:
 * does delivery keep pace, do timers fire? Run with `yieldEveryMs: 0` to see the starvation it prevents.
 */
export async function runTightLoop(options: {
  strategy: StrategyConfig;
  seconds: number;
  yieldEveryMs: number;
  dimension?: number;
}): Promise<TightLoopResult> {
  const dimension = options.dimension ?? 384;
  const dir = await mkdtemp(join(tmpdir(), 'dw-tight-loop-'));
  try {
    const relational = (await openRelational({ kind: 'sqlite', sqlitePath: join(dir, 'source.db') })).store;
    const vector = (await openVector({ kind: 'lancedb', lancedbDir: join(dir, 'lance') }, dimension)).store;
    const dw = await createDualWrite({
      relational,
      vector,
      strategy: options.strategy,
      yieldEveryMs: options.yieldEveryMs,
      driftCheck: false,
    });
    try {
      const embedding = Array.from({ length: dimension }, (_, i) => Math.sin(i + 1));
      let delivered = 0;
      const off = dw.events.on('synced', ({ items }) => {
        delivered += items.length;
      });
      let ticks = 0;
      let last = performance.now();
      let worst = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
        ticks++;
      }, 10);
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      let puts = 0;
      const until = performance.now() + options.seconds * 1000;
      while (performance.now() < until) {
        await dw.put({ id: `tight-${puts % 1000}`, text: `tight loop write ${puts}`, embedding });
        puts++;
      }
      clearInterval(timer);
      loopDelay.disable();
      worst = Math.max(worst, performance.now() - last);
      const deliveredDuringLoop = delivered;
      off();
      const stats = await dw.stats();
      const drainStart = performance.now();
      await dw.flush({ timeoutMs: 600_000 });
      const drainAfterMs = performance.now() - drainStart;
      const check = await verifyConsistency(relational, vector);
      return {
        strategy: dw.strategyName,
        yieldEveryMs: options.yieldEveryMs,
        seconds: options.seconds,
        puts,
        deliveredDuringLoop,
        backlogAtEnd: stats.outboxDepth,
        timerTicks: ticks,
        worstTimerDelayMs: Math.round(worst),
        loopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e6),
        loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
        writerYields: stats.writerYields,
        drainAfterMs: Math.round(drainAfterMs),
        lost: check.lost,
        stale: check.stale + check.mismatched,
        duplicates: check.duplicates,
      };
    } finally {
      await dw.close({ drain: false, timeoutMs: 5_000 });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
