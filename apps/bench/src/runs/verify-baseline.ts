import type { VectorStore } from '@dualwrite/core';

/** Differences between what should be indexed and what is. */
export interface BaselineCheck {
  /** Expected ids absent from the index or at another version. */
  lost: number;
  /** Indexed ids that are not expected. */
  orphans: number;
}

/**
 * The baselines' equivalent of core's `verifyConsistency`: every expected `(id, version)` must be in
 * the index at that version, and nothing else. Reads `getVersions` and `listIds` in pages of 1,000.
 */
export async function verifyIndex(
  vector: VectorStore,
  expected: ReadonlyMap<string, number>,
): Promise<BaselineCheck> {
  let lost = 0;
  const ids = [...expected.keys()];
  for (let i = 0; i < ids.length; i += 1000) {
    const page = ids.slice(i, i + 1000);
    const indexed = await vector.getVersions(page);
    for (const id of page) if (indexed.get(id) !== expected.get(id)) lost++;
  }
  let orphans = 0;
  let cursor: string | undefined;
  for (;;) {
    const page = await vector.listIds({ cursor, limit: 1000 });
    for (const item of page.items) if (!expected.has(item.id)) orphans++;
    if (page.nextCursor === undefined) break;
    cursor = page.nextCursor;
  }
  return { lost, orphans };
}

/** Like {@link verifyIndex} for a plain `(id, version)` map (the sqlite-only table). */
export function verifyMap(
  actual: ReadonlyMap<string, number>,
  expected: ReadonlyMap<string, number>,
): BaselineCheck {
  let lost = 0;
  for (const [id, version] of expected) if (actual.get(id) !== version) lost++;
  let orphans = 0;
  for (const id of actual.keys()) if (!expected.has(id)) orphans++;
  return { lost, orphans };
}
