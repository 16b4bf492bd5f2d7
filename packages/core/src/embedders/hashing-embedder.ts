import * as nodeCrypto from 'node:crypto';
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
 * md5 of a feature: Node's one-shot `crypto.hash` (about 1.8× faster on short strings) where it exists (Node
 * 20.12+), else `createHash` — the same bytes.
 */
const md5: (feature: string) => Buffer =
  typeof nodeCrypto.hash === 'function'
    ? (feature) => nodeCrypto.hash('md5', feature, 'buffer')
    : (feature) => nodeCrypto.createHash('md5').update(feature).digest();

/** How long {@link HashingEmbedder.embed} runs before it lets the event loop turn, ms. */
export const HASHING_TURN_MS = 20;

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

  /**
   * One vector per text. Between texts it lets the event loop turn once it has run for
   * {@link HASHING_TURN_MS}: a batch of large texts (about 0.3 s of CPU per MB) must not stall lease renewals,
   * timers and signals of the process embedding them (a drain worker blocked 24 s on 32 texts of 1 MB, its leases
   * expired and SIGTERM waited; a break-it round).
   */
  async embed(texts: readonly string[]): Promise<number[][]> {
    const out: number[][] = [];
    let since = performance.now();
    for (const text of texts) {
      if (performance.now() - since >= HASHING_TURN_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        since = performance.now();
      }
      out.push(this.embedOne(text));
    }
    return out;
  }

  /** Synchronous form of {@link embed} for one text. */
  embedOne(text: string): number[] {
    const v = new Float64Array(this.dimension);
    const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
    // A feature's signed bucket, once per distinct feature of the text (words repeat: most of a long text's).
    const seen = new Map<string, number>();
    const add = (feature: string, weight: number) => {
      let signed = seen.get(feature);
      if (signed === undefined) {
        const h = md5(feature);
        const bucket = h.readUInt32LE(0) % this.dimension;
        signed = h[4]! & 1 ? bucket + 1 : -(bucket + 1);
        seen.set(feature, signed);
      }
      v[Math.abs(signed) - 1]! += (signed > 0 ? 1 : -1) * weight;
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
