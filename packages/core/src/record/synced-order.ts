import { ValidationError } from '../errors.js';

/** Which end of the acknowledged versions `RelationalStore.recentlySynced` returns, in that order. */
export type SyncedOrder = 'highest-first' | 'lowest-first';

const ORDERS: readonly unknown[] = ['highest-first', 'lowest-first'] satisfies SyncedOrder[];

/**
 * Checks `recentlySynced`'s `above` and `order` arguments.
 * @throws {ValidationError} naming `above` (not an integer ≥ 0) or `order` (not a {@link SyncedOrder}), with
 *   `component` when given.
 */
export function checkSyncedRange(above: number, order: SyncedOrder, component?: string): void {
  if (!Number.isSafeInteger(above) || above < 0)
    throw new ValidationError('above', `must be an integer >= 0, got ${above}`, { component, limit: '>= 0' });
  if (!ORDERS.includes(order))
    throw new ValidationError('order', `is ${JSON.stringify(order)}`, {
      component,
      limit: "'highest-first' or 'lowest-first'",
    });
}
