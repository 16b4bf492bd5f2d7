/**
 * Checks every SQL dialect of dualwrite runs in its own tests (`@dualwrite/sql/testing`). They use
 * `node:assert` and throw an `AssertionError` on a violation, so any test runner can call them.
 * @packageDocumentation
 */
export { type CacheExpiryUpgradeFixture, checkCacheExpiryUpgrade } from './cache-expiry-upgrade.js';
export { type CaughtDeadlockFixture, checkCaughtDeadlock } from './caught-deadlock.js';
export { checkForeignTableRefused, type ForeignTableFixture } from './foreign-table.js';
export { checkFractionalClock, type FractionalClockFixture } from './fractional-clock.js';
export { freePort } from './free-port.js';
export {
  checkHeldRowsHoldUpNoOtherWrites,
  checkRecordsLockedDuringDelivery,
  type HeldRowsFixture,
  type LockedDuringDeliveryFixture,
} from './locked-during-delivery.js';
export { checkLostConnections, type LostConnectionsFixture } from './lost-connections.js';
export { checkMissingSchema, type MissingSchemaFixture } from './missing-schema.js';
export {
  checkSchemaFromNewerRelease,
  type NewerReleaseFixture,
  type SqlStoreUnderTest,
} from './newer-release.js';
export { checkRestoreFound, type RestoreFixture } from './restore-found.js';
export { runSqlStatement } from './run-statement.js';
export { writeTestRecord } from './test-record.js';
