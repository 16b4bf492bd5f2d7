/**
 * Splits `items`, in order, into runs of at most `maxCount` items and `maxBytes` bytes by `size` — a lone
 * item larger than `maxBytes` forms a run of its own (the caller decides whether it can be sent). For
 * adapters that must keep each request or statement under a backend's size limit (Chroma's request size,
 * MySQL's `max_allowed_packet`).
 */
export function chunksBySize<T>(
  items: readonly T[],
  maxCount: number,
  maxBytes: number,
  size: (item: T) => number,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const s = size(item);
    if (current.length > 0 && (current.length >= maxCount || bytes + s > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += s;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
