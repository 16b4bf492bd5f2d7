import type { Change } from '../contracts/write-strategy.js';
import { changeId } from './plan-change.js';

/** {@link lastOfEachId}'s answer. */
export interface LastOfEachId {
  /** Each id's last change, in the order of those last occurrences. */
  changes: Change[];
  /** For each input change, the index in {@link changes} of its id's last change (where its result is). */
  resultAt: number[];
}

/**
 * A call's changes with each id once — its last change wins, as if they had been applied in turn — so every
 * strategy writes one state per id and draws one version for it, and every occurrence of an id reports the
 * outcome of that write.
 */
export function lastOfEachId(changes: readonly Change[]): LastOfEachId {
  const last = new Map<string, number>();
  changes.forEach((change, i) => {
    last.set(changeId(change), i);
  });
  if (last.size === changes.length) return { changes: [...changes], resultAt: changes.map((_, i) => i) };
  const kept = [...last.values()].sort((a, b) => a - b);
  const position = new Map(kept.map((i, j) => [changeId(changes[i]!), j]));
  return {
    changes: kept.map((i) => changes[i]!),
    resultAt: changes.map((change) => position.get(changeId(change))!),
  };
}
