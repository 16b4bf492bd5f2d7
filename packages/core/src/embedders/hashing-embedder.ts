import { createHash } from 'node:crypto';
import type { Embedder } from '../contracts/embedder.js';
import { ValidationError } from '../errors.js';
import { describeValue } from '../util/describe-value.js';
import { type OptionKeys, refuseUnknownKeys } from '../util/option-keys.js';

/** Options for {@link HashingEmbedder}. */
export interface HashingEmbedderOptions {
  /** Output dimension. Default 384. */
  dimension?: number;
}

const OPTION_KEYS: OptionKeys<HashingEmbedderOptions> = { dimension: true };

/**
 * Deterministic, offline, **lexical** embedder (feature hashing of lower-cased word unigrams and
 * bigrams into `dimension` buckets with a sign bit, then L2-normalised). Texts sharing words land close;
 * it knows nothing of meaning. Good for tests, demos and benchmarks without a model download; use a real
 * model for semantic search.
 *
 * Source: Weinberger et al., "Feature Hashing for Large Scale Multitask Learning", ICML 2009.
 */
export class HashingEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  readonly maxBatchSize = 1024;

  /**
   * @throws {ValidationError} when `options` is not an object (`new HashingEmbedder(384)`: write
   *   `{ dimension: 384 }`), holds a key it does not take (`dimensions`), or `dimension` is not in 1..65,536.
   */
  constructor(options: HashingEmbedderOptions = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new ValidationError(
        'options',
        `must be an object${typeof options === 'number' ? ` — write { dimension: ${options} }` : ''}, got ${describeValue(options)}`,
        { component: 'hashing-embedder' },
      );
    refuseUnknownKeys(options, OPTION_KEYS, 'options', 'hashing-embedder');
    this.dimension = options.dimension ?? 384;
    if (!Number.isInteger(this.dimension) || this.dimension < 1 || this.dimension > 65_536)
      throw new ValidationError('dimension', `must be an integer, got ${describeValue(this.dimension)}`, {
        component: 'hashing-embedder',
        limit: '1..65536',
      });
    this.id = `hashing-v1:${this.dimension}`;
  }

  async embed(texts: readonly string[]): Promise<number[][]> {
    return texts.map((t) => this.embedOne(t));
  }

  /** Synchronous form of {@link embed} for one text. */
  embedOne(text: string): number[] {
    const v = new Float64Array(this.dimension);
    const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
    const add = (feature: string, weight: number) => {
      const h = createHash('md5').update(feature).digest();
      const bucket = h.readUInt32LE(0) % this.dimension;
      v[bucket]! += (h[4]! & 1 ? 1 : -1) * weight;
    };
    for (let i = 0; i < words.length; i++) {
      add(words[i]!, 1);
      if (i > 0) add(`${words[i - 1]} ${words[i]}`, 0.5);
    }
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm === 0) {
      v[0] = 1; // empty text: a fixed unit vector, so cosine stays defined
      norm = 1;
    }
    return Array.from(v, (x) => x / norm);
  }
}
