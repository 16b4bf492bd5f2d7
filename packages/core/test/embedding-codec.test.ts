import { describe, expect, it } from 'vitest';
import { decodeEmbedding, encodeEmbedding, toFloat32Precision } from '../src/record/embedding-codec.js';

/** The stored form, written value by value with an explicit little-endian DataView: the format's definition. */
function reference(embedding: readonly number[]): Uint8Array {
  const out = new Uint8Array(embedding.length * 4);
  const view = new DataView(out.buffer);
  for (const [i, v] of embedding.entries()) view.setFloat32(i * 4, v, true);
  return out;
}

const values = [0, -0, 1, -1.5, Math.PI, 1e-45, -1e-40, 3.4e38, 1e39, -1e39, 0.1, 2 ** -126];

describe('embedding codec', () => {
  it('encodes little-endian float32, byte for byte', () => {
    expect([...encodeEmbedding(values)]).toEqual([...reference(values)]);
    expect(encodeEmbedding([]).byteLength).toBe(0);
  });

  it('round-trips to float32 precision, -0 and subnormals included', () => {
    const back = decodeEmbedding(encodeEmbedding(values));
    expect(back).toEqual(toFloat32Precision(values));
    expect(Object.is(back[1], -0)).toBe(true);
  });

  it('decodes a blob at any byte offset of a shared buffer (as drivers hand them out)', () => {
    const bytes = reference(values);
    for (const offset of [1, 2, 3, 4, 5]) {
      const shared = Buffer.alloc(bytes.length + offset + 3, 0xff);
      shared.set(bytes, offset);
      const blob = shared.subarray(offset, offset + bytes.length);
      expect(decodeEmbedding(blob)).toEqual(toFloat32Precision(values));
      // The blob itself is left as it was.
      expect([...blob]).toEqual([...bytes]);
    }
  });

  it('returns a buffer each caller owns: a later encode does not change an earlier result', () => {
    const first = encodeEmbedding([1, 2, 3]);
    const copy = [...first];
    for (let i = 0; i < 20; i++) encodeEmbedding([9, 9, 9, 9, 9, 9, 9, 9]);
    expect([...first]).toEqual(copy);
  });

  it('refuses a blob that is not whole float32 values', () => {
    expect(() => decodeEmbedding(new Uint8Array(7))).toThrow(RangeError);
  });
});
