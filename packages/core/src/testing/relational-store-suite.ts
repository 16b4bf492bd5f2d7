/**
 * Contract suite for {@link RelationalStore} adapters.
 *
 * Every check is a plain async function taking a {@link RelationalStoreFactory}; it opens a fresh store
 * (and calls `init()`), runs its assertions with vitest's `expect` and rejects on the first violation.
 * {@link relationalStoreSuite} wraps them in `describe`/`it`, one test per check and a fresh store per
 * test. Because the checks are plain functions, a test can also run one check against a deliberately
 * broken adapter and assert that it rejects (that is how the suite itself is tested).
 *
 * The doc comments of `contracts/relational-store.ts` and `contracts/outbox.ts` are the specification.
 * Times are Unix ms from a fixed base ({@link RELATIONAL_STORE_SUITE_T0}); ids carry a random part
 * except where the exact bytes of the id are the point of the check.
 *
 * Pattern: Keyv's `storageTestSuite` (one shared suite every storage adapter runs).
 *
 * @packageDocumentation
 */
import { describe, it } from 'vitest';
import { argumentsChecks } from './relational-suite/arguments.js';
import { cacheAndRepairsChecks } from './relational-suite/cache-and-repairs.js';
import { embeddingsAndSyncMarksChecks } from './relational-suite/embeddings-and-sync-marks.js';
import { endedTransactionChecks } from './relational-suite/ended-transaction.js';
import { fastPathsChecks } from './relational-suite/fast-paths.js';
import type { RelationalStoreFactory } from './relational-suite/helpers.js';
import { integrityChecks } from './relational-suite/integrity.js';
import { intentsChecks } from './relational-suite/intents.js';
import { lifecycleChecks } from './relational-suite/lifecycle.js';
import { modelChecks } from './relational-suite/model.js';
import { outboxAckChecks } from './relational-suite/outbox-ack.js';
import { outboxClaimChecks } from './relational-suite/outbox-claim.js';
import { outboxFailuresChecks } from './relational-suite/outbox-failures.js';
import { outboxGaugesChecks } from './relational-suite/outbox-gauges.js';
import { recordsChecks } from './relational-suite/records.js';
import { twoPhaseChecks } from './relational-suite/two-phase.js';
import { writeChangesChecks } from './relational-suite/write-changes.js';

export {
  compareCodePoints,
  RELATIONAL_STORE_SPECIAL_IDS,
  RELATIONAL_STORE_SUITE_T0,
  type RelationalStoreCheck,
  type RelationalStoreFactory,
  type RelationalStoreFixture,
} from './relational-suite/helpers.js';

/**
 * Every contract check, by name (one file per concern under `relational-suite/`). Each takes a factory,
 * opens its own fresh store, and rejects (with a vitest assertion error) on the first contract violation.
 */
export const relationalStoreChecks = {
  ...lifecycleChecks,
  ...recordsChecks,
  ...embeddingsAndSyncMarksChecks,
  ...outboxClaimChecks,
  ...outboxAckChecks,
  ...outboxFailuresChecks,
  ...outboxGaugesChecks,
  ...intentsChecks,
  ...cacheAndRepairsChecks,
  ...fastPathsChecks,
  ...integrityChecks,
  ...modelChecks,
  ...writeChangesChecks,
  ...twoPhaseChecks,
  ...endedTransactionChecks,
  ...argumentsChecks,
};

/** Adapter quirks and knobs for {@link relationalStoreSuite}. */
export interface RelationalStoreSuiteOptions {
  /**
   * Checks to skip, by name, each with the reason (shown in the test title). Use only for a documented
   * limitation of the backend; a skipped check is a contract gap to report.
   */
  skip?: Partial<Record<RelationalStoreCheckName, string>>;
  /** Per-test timeout in ms. Default 60,000. */
  timeoutMs?: number;
  /**
   * The store is SQL, and its fixtures provide `runStatement`: the checks of what the application's own
   * statements on `tx.native` do to the transaction run too ({@link endedTransactionChecks}). Default `false`.
   */
  sql?: boolean;
}

/** Name of one check in {@link relationalStoreChecks}. */
export type RelationalStoreCheckName = keyof typeof relationalStoreChecks;

/**
 * Registers the RelationalStore contract suite with vitest: one `describe(\`RelationalStore contract:
 * ${name}\`)` with one test per check in {@link relationalStoreChecks}, each on a fresh store from
 * `factory`.
 *
 * @example
 * ```ts
 * relationalStoreSuite('sqlite', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'dw-'));
 *   const store = new SqliteRelationalStore({ path: join(dir, 'db.sqlite') });
 *   return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true }); } };
 * });
 * ```
 */
export function relationalStoreSuite(
  name: string,
  factory: RelationalStoreFactory,
  options: RelationalStoreSuiteOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;
  describe(`RelationalStore contract: ${name}`, () => {
    for (const [checkName, check] of Object.entries(relationalStoreChecks)) {
      const reason =
        options.skip?.[checkName as RelationalStoreCheckName] ??
        (!options.sql && checkName in endedTransactionChecks ? 'the store runs no SQL' : undefined);
      if (reason !== undefined) it.skip(`${checkName} (skipped: ${reason})`, () => {});
      else it(checkName, () => check(factory), timeout);
    }
  });
}
