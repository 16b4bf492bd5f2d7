/** The offline default embedder: stable output, and large batches that leave the event loop turning. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashingEmbedder } from '../src/index.js';

/** The embedder's definition, written out plainly (md5 per feature, every occurrence hashed). */
function reference(text: string, dimension: number): number[] {
  const v = new Float64Array(dimension);
  const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  const add = (feature: string, weight: number) => {
    const h = createHash('md5').update(feature).digest();
    v[h.readUInt32LE(0) % dimension]! += (h[4]! & 1 ? 1 : -1) * weight;
  };
  words.forEach((w, i) => {
    add(w, 1);
    if (i > 0) add(`${words[i - 1]} ${w}`, 0.5);
  });
  const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
  if (words.length === 0) v[0] = 1;
  return Array.from(v, (x) => x / norm);
}

describe('HashingEmbedder', () => {
  it('gives exactly the vectors of its definition (hashing-v1: stored indexes stay valid)', async () => {
    const e = new HashingEmbedder({ dimension: 64 });
    const texts = [
      'Parses a config file into options',
      'the the the cat the cat',
      'Ünïcode wörds, 42 and_more',
      '',
    ];
    const got = await e.embed(texts);
    texts.forEach((t, i) => {
      expect(got[i]).toEqual(reference(t, 64));
    });
  });

  it('lets the event loop turn between large texts of one batch', async () => {
    const e = new HashingEmbedder({ dimension: 384 });
    const big = Array.from({ length: 6 }, (_, n) =>
      Array.from({ length: 40_000 }, (_, i) => `w${(i * 31 + n) % 9_973}`).join(' '),
    );
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const embedding = e.embed(big);
    await embedding;
    expect(turned).toBe(true);
    // A timer due during the batch ran before the batch finished.
    let ranDuring = false;
    let finished = false;
    setTimeout(() => {
      ranDuring = !finished;
    }, 1);
    await e.embed(big);
    finished = true;
    expect(ranDuring).toBe(true);
  });
});
