import { describe, expect, it } from 'vitest';
import { AsyncQueueStrategy, BatchStrategy, HashingEmbedder, ValidationError } from '../src/index.js';

/** Bad knobs are refused at construction with a ValidationError naming the option and its limit. */
describe('option errors are typed', () => {
  const cases: [string, () => unknown, string, string][] = [
    ['async-queue concurrency', () => new AsyncQueueStrategy({ concurrency: 0 }), 'concurrency', '1..256'],
    ['batch maxBatchSize', () => new BatchStrategy({ maxBatchSize: 1.5 }), 'maxBatchSize', 'integer >= 1'],
    ['batch maxDelayMs', () => new BatchStrategy({ maxDelayMs: -1 }), 'maxDelayMs', '>= 0 ms'],
    ['batch concurrency', () => new BatchStrategy({ concurrency: 65 }), 'concurrency', '1..64'],
    ['hashing embedder dimension', () => new HashingEmbedder({ dimension: 0 }), 'dimension', '1..65536'],
  ];
  for (const [what, make, field, limit] of cases)
    it(what, () => {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ code: 'VALIDATION', field, limit });
    });
});
