import type { RelationalTx } from '@dualwrite/core';

/**
 * Writes record `id` (text = id, no embedding, empty metadata) at a new version in `tx`, enqueuing nothing;
 * for a dialect's own tests that need a row to read back, lock or enqueue.
 * @param now - Unix ms of the write.
 * @returns the version drawn.
 */
export async function writeTestRecord(tx: RelationalTx<unknown>, id: string, now: number): Promise<number> {
  const version = await tx.nextVersion();
  await tx.writeRecord({
    id,
    text: id,
    embedding: null,
    metadata: {},
    version,
    deleted: false,
    contentHash: 'h',
    syncedVersion: null,
    now,
  });
  return version;
}
