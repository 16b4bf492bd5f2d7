import { encodeEmbedding } from '@dualwrite/core';
import { embeddingBytes } from '@dualwrite/sql';
import { describe, expect, it } from 'vitest';

describe('embeddingBytes', () => {
  it('writes -0 and a component that rounds to ±0 as +0, every other component as its float32', () => {
    const given = [-0, 1e-50, -1e-50, 0.1, -2.5, 3e38];
    const bytes = embeddingBytes(given);
    expect([...new Float32Array(bytes.buffer, bytes.byteOffset, 6)].map((x) => Object.is(x, -0))).toEqual(
      new Array(6).fill(false),
    );
    expect(Buffer.from(bytes)).toEqual(Buffer.from(encodeEmbedding([0, 0, 0, 0.1, -2.5, 3e38])));
  });

  it('leaves an embedding without zeros byte for byte as encodeEmbedding writes it', () => {
    const given = Array.from({ length: 384 }, (_, i) => Math.sin(i + 1));
    expect(Buffer.from(embeddingBytes(given))).toEqual(Buffer.from(encodeEmbedding(given)));
  });
});
