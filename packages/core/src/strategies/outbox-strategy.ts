import type {
  Change,
  StrategyContext,
  StrategyStats,
  WriteResult,
  WriteStrategy,
} from '../contracts/write-strategy.js';
import { type DrainerOptions, OutboxDrainer } from '../outbox/outbox-drainer.js';
import { writeChangesWithOutbox } from '../write/plan-change.js';

/**
 * Shared base of the strategies that return after one SQL transaction (record + outbox entry) and deliver
 * in the background. Subclasses choose how the drainer groups deliveries.
 */
export abstract class OutboxStrategy implements WriteStrategy {
  abstract readonly name: string;
  protected ctx!: StrategyContext;
  protected drainer!: OutboxDrainer;
  /** {@link pause} before {@link start}: the drainer starts paused (a writer-only process never claims). */
  private pausedBeforeStart = false;
  /** {@link stop} began: calls waiting for deliveries stop waiting. */
  protected stopping = false;

  protected abstract drainerOptions(ctx: StrategyContext): DrainerOptions;

  async start(context: StrategyContext): Promise<void> {
    this.ctx = context;
    this.drainer = new OutboxDrainer(context, this.drainerOptions(context));
    // A process that delivers nothing (a writer-only one, the inspecting CLI) rolls back no abandoned sync-2pc
    // intents either: its watch for the abandoned write's late landing would end with it (a break-it round:
    // `dualwrite status` rolled one back and exited, the late write stayed until a worker's periodic check).
    // The drainer of a delivering process recovers them, at its start or on resume.
    if (this.pausedBeforeStart) this.drainer.pause();
    else await this.drainer.recoverIntents();
    await this.drainer.start();
  }

  async write(changes: readonly Change[]): Promise<WriteResult[]> {
    const now = this.ctx.clock.now();
    const { relational } = this.ctx;
    const results = relational.writeChanges
      ? await relational.writeChanges(changes, now)
      : await relational.transaction((tx) => writeChangesWithOutbox(tx, changes, now));
    this.drainer.wake(results.filter((r) => r.changed).length);
    return results;
  }

  async afterCommit(ids: readonly string[]): Promise<void> {
    this.drainer.wake(ids.length);
  }

  requestFlush(active: boolean): void {
    this.drainer.setFlushing(active);
  }

  /** Resolves at the next delivery or after `ms`. */
  waitForProgress(ms: number): Promise<void> {
    return this.drainer.waitForProgress(ms);
  }

  pause(): void {
    if (this.drainer) this.drainer.pause();
    else this.pausedBeforeStart = true;
  }

  resume(): void {
    if (this.drainer) this.drainer.resume();
    else this.pausedBeforeStart = false;
  }

  async stop(options: { timeoutMs: number }): Promise<void> {
    this.stopping = true;
    await this.drainer.stop(options.timeoutMs);
  }

  stats(): StrategyStats {
    return {
      inFlight: this.drainer.inFlight,
      paused: this.drainer.paused,
      backendDown: this.drainer.backendDown,
      downBackend: this.drainer.downBackend,
    };
  }
}
