import { describe, expect, it } from 'vitest';
import {
  DimensionMismatchError,
  lacksDirection,
  maxEmbeddingComponent,
  ValidationError,
  validateMetadata,
  validateRecord,
} from '../src/index.js';

describe('validateRecord', () => {
  it('accepts a well-formed record and defaults metadata', () => {
    expect(validateRecord({ id: 'a', text: '' }, 2)).toEqual({
      id: 'a',
      text: '',
      embedding: undefined,
      metadata: {},
    });
  });
  it.each([
    [{ id: '', text: 'x' }, 'r.id'],
    [{ id: 'a\u0000b', text: 'x' }, 'r.id'],
    [{ id: 'x'.repeat(513), text: 'x' }, 'r.id'],
    [{ id: '\uD800', text: 'x' }, 'r.id'],
    [{ id: 'a', text: 3 }, 'r.text'],
    [{ id: 'a', text: 'x', metadata: { n: null } }, 'r.metadata.n'],
    [{ id: 'a', text: 'x', metadata: { n: [1] } }, 'r.metadata.n'],
    [{ id: 'a', text: 'x', metadata: { n: { a: 1 } } }, 'r.metadata.n'],
    [{ id: 'a', text: 'x', metadata: { n: Number.NaN } }, 'r.metadata.n'],
    [{ id: 'a', text: 'x', metadata: { _dw_version: 1 } }, 'r.metadata._dw_version'],
    [{ id: 'a', text: 'x', embedding: [1, Number.POSITIVE_INFINITY] }, 'r.embedding[1]'],
  ])('rejects %j naming %s', (input, field) => {
    const err = (() => {
      try {
        validateRecord(input, 2, 'r');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
  });
  it('throws DimensionMismatchError for a wrong length', () => {
    expect(() => validateRecord({ id: 'a', text: 'x', embedding: [1, 2, 3] }, 2)).toThrow(
      DimensionMismatchError,
    );
  });
  it('rejects text over the byte limit', () => {
    expect(() => validateRecord({ id: 'a', text: 'é'.repeat(600_000) }, 2)).toThrow(/<= 1048576 bytes/);
  });
});

describe('validateMetadata', () => {
  it('keeps a "__proto__" key as data instead of dropping it', () => {
    const input = JSON.parse('{"__proto__": "x", "a": 1}');
    const out = validateRecord({ id: 'a', text: '', metadata: input }, 2).metadata;
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(out)).toBe('{"__proto__":"x","a":1}');
  });
});

describe('validateMetadata: what JSON cannot carry (helper-52)', () => {
  it('refuses a symbol key instead of dropping it, and stores -0 as 0', () => {
    expect(() => validateMetadata({ a: 1, [Symbol('s')]: 1 })).toThrow(
      expect.objectContaining({ code: 'VALIDATION', field: 'metadata', limit: 'string keys only' }),
    );
    expect(Object.is(validateMetadata({ z: -0 }).z, 0)).toBe(true);
  });
});

describe('lacksDirection', () => {
  it('is true where the float32 squared norm is below the smallest normal float32, false otherwise', () => {
    const of = (x: number) => Array.from({ length: 8 }, () => x);
    expect(lacksDirection(of(0))).toBe(true);
    expect(lacksDirection(of(-0))).toBe(true);
    expect(lacksDirection(of(1e-24)), 'zero to a float32 index').toBe(true);
    // helper-53: squares of about 1e-44 keep a few bits; LanceDB and Chroma scored this 1.0097 against [1, 0, …].
    expect(lacksDirection([1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1].map((x) => x * 1e-22))).toBe(true);
    expect(lacksDirection(of(1e-20)), 'norm 2.8e-20: squares denormal').toBe(true);
    expect(lacksDirection([2e-19, 0, 0, 0]), 'norm above 1.08e-19').toBe(false);
    expect(lacksDirection([1e-30, 0, 0, 1e-10])).toBe(false);
    expect(lacksDirection([1, 0, 0, 0])).toBe(false);
  });
});

describe('maxEmbeddingComponent', () => {
  it('keeps the squared L2 distance of two opposite vectors at the bound finite in float32 (helper-53)', () => {
    for (const dimension of [1, 8, 384, 4096]) {
      const bound = maxEmbeddingComponent(dimension);
      const a = Math.fround(bound * 0.999);
      let squared = 0;
      for (let i = 0; i < dimension; i++)
        squared = Math.fround(squared + Math.fround(Math.fround(2 * a) ** 2));
      expect(Number.isFinite(squared), `dimension ${dimension}`).toBe(true);
    }
  });
});
