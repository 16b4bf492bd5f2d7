/**
 * Compact binary form of an embedding for relational storage: little-endian IEEE-754 float32,
 * 4 bytes per dimension (a 384-d vector is 1,536 bytes).
 */
export function encodeEmbedding(embedding: readonly number[]): Uint8Array {
  const out = new Uint8Array(embedding.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < embedding.length; i++) view.setFloat32(i * 4, embedding[i]!, true);
  return out;
}

/** Inverse of {@link encodeEmbedding}. @throws {RangeError} when the byte length is not a multiple of 4. */
export function decodeEmbedding(bytes: Uint8Array): number[] {
  if (bytes.byteLength % 4 !== 0)
    throw new RangeError(`embedding blob of ${bytes.byteLength} bytes is not float32`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Rounds every value to float32 precision, so values compare equal after a round trip through storage. */
export function toFloat32Precision(embedding: readonly number[]): number[] {
  const out = new Array<number>(embedding.length);
  for (let i = 0; i < embedding.length; i++) out[i] = Math.fround(embedding[i]!);
  return out;
}
