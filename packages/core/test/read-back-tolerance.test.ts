/**
 * What an index returns is compared with the source of truth within the rounding a backend adds on the way back,
 * and no further: Chroma's server parses some JSON numbers one unit in the last place off, and returns float32
 * subnormals rounded to a neighbour (a break-it round: such records were `mismatched` for ever, and every check
 * started a full repair that could not change them). A real edit still counts.
 */
import { describe, expect, it } from 'vitest';
import { contentDifference, metadataMatches, vectorsMatch } from '../src/index.js';

/** `x` moved `n` float64 units in the last place up. */
function ulpsUp(x: number, n: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(n));
  return view.getFloat64(0);
}

describe('read-back comparison', () => {
  it('metadata numbers one unit in the last place off match; a real change, a type change or a key does not', () => {
    expect(ulpsUp(912866.1402564291, 1)).toBe(912866.1402564292);
    expect(metadataMatches({ score: 912866.1402564291, s: 'a' }, { score: 912866.1402564292, s: 'a' })).toBe(
      true,
    );
    expect(metadataMatches({ x: 0.1 }, { x: ulpsUp(0.1, 2) })).toBe(true);
    expect(metadataMatches({ x: 0.1 }, { x: ulpsUp(0.1, 64) }), '64 units off').toBe(false);
    expect(metadataMatches({ x: 912866.14 }, { x: 912866.15 })).toBe(false);
    expect(metadataMatches({ x: 1 }, { x: '1' })).toBe(false);
    expect(metadataMatches({ x: 1 }, { x: 1, y: 2 })).toBe(false);
    expect(metadataMatches({ x: 0 }, { x: 1e-300 }), 'zero against a tiny number').toBe(false);
  });

  it('float32 subnormal components rounded to a neighbour match; a normal component changed does not', () => {
    expect(vectorsMatch([2.8e-45, 1e-40, 0.5], [1.4e-45, 9.9998e-41, 0.5])).toBe(true);
    expect(vectorsMatch([0.5, 0.25], [0.5, 0.2501])).toBe(false);
    expect(vectorsMatch([1.2e-38, 0.5], [2.4e-38, 0.5]), 'normal float32 values twice apart').toBe(false);
  });

  // helper-75: another tool's ±Infinity or NaN in an index row passed both comparisons, and metadata read back as
  // `null` threw in every check (a `[]` passed for `{}`).
  it('a component that is not a finite number never matches', () => {
    for (const bad of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN])
      expect(vectorsMatch([0.5, 0.25], [bad, 0.25]), String(bad)).toBe(false);
  });

  it('metadata that is not a plain object never matches, and never throws', () => {
    for (const bad of [null, [], 0, true, '', undefined])
      expect(metadataMatches({}, bad as never), JSON.stringify(bad) ?? 'undefined').toBe(false);
    expect(metadataMatches({}, {})).toBe(true);
  });

  it('contentDifference uses both', () => {
    const record = { text: 't', metadata: { score: 912866.1402564291 }, embedding: [1e-40, 0.5] };
    expect(
      contentDifference(record, {
        ...record,
        metadata: { score: 912866.1402564292 },
        embedding: [9.9998e-41, 0.5],
      }),
    ).toEqual([]);
    expect(contentDifference(record, { ...record, metadata: { score: 1 } })).toEqual(['metadata']);
  });
});
