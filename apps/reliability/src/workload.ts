/**
 * The deterministic stream of writes a writer process performs: puts, updates (puts of existing ids),
 * unchanged re-puts, deletes and multi-record batches over a small, overlapping id space. Every put carries a
 * text and metadata unique to its position in the stream, so the final state of an id tells exactly which
 * write produced it.
 *
 * @packageDocumentation
 */
import { createRng } from './random.js';

/** One record a workload puts. */
export interface WorkloadRecord {
  id: string;
  text: string;
  metadata: Record<string, string | number | boolean>;
}

/** One call the writer makes on the facade. */
export type WorkloadOp =
  | { kind: 'put'; record: WorkloadRecord }
  | { kind: 'putMany'; records: WorkloadRecord[] }
  | { kind: 'delete'; id: string }
  | { kind: 'deleteMany'; ids: string[] };

/** Options of {@link createWorkload}. */
export interface WorkloadOptions {
  /** Seed of the stream. */
  seed: number;
  /** Number of distinct ids written (overlapping: each is written many times). */
  idSpace: number;
  /** Tag put into every text and metadata, so several writers' writes can be told apart. */
  writer: string;
  /**
   * Use ids that stress quoting and encoding (single and double quotes, SQL and predicate metacharacters,
   * non-Latin scripts, emoji) for part of the id space. Default `true`.
   */
  trickyIds?: boolean;
  /** Share of calls that are multi-record `putMany` batches. Default 0.15. */
  batchShare?: number;
  /** Largest `putMany` size. Default 6. */
  maxBatch?: number;
  /** Id prefix. Default `'k'`. */
  prefix?: string;
}

/**
 * The id for slot `n` of the id space. With `tricky`, four slots in five carry quotes, predicate / SQL
 * metacharacters, a non-Latin script or an emoji.
 */
export function workloadId(n: number, prefix = 'k', tricky = true): string {
  if (!tricky) return `${prefix}-${n}`;
  switch (n % 5) {
    case 0:
      return `${prefix}-${n}`;
    case 1:
      return `${prefix}'${n}' OR '1'='1`;
    case 2:
      return `${prefix}"${n}"; DROP TABLE dw_records; --`;
    case 3:
      return `${prefix}-ключ-${n}-中文`;
    default:
      return `${prefix}-😀-${n}\\%_*`;
  }
}

/**
 * Creates the op stream. `next(seq)` returns the op at position `seq` (call it with 0, 1, 2, ... in order:
 * the generator remembers what it put, to issue unchanged re-puts).
 */
export function createWorkload(options: WorkloadOptions): { next(seq: number): WorkloadOp } {
  const rng = createRng(options.seed);
  const tricky = options.trickyIds ?? true;
  const batchShare = options.batchShare ?? 0.15;
  const maxBatch = options.maxBatch ?? 6;
  const prefix = options.prefix ?? 'k';
  const lastPut = new Map<string, WorkloadRecord>();
  const anyId = () => workloadId(rng.int(0, options.idSpace - 1), prefix, tricky);
  const freshRecord = (id: string, seq: number, part = 0): WorkloadRecord => ({
    id,
    text: `${id} written by ${options.writer} at step ${seq}.${part} ${rng.pick(['alpha', 'beta', 'gamma', 'delta'])}`,
    metadata: { w: options.writer, seq, part, even: seq % 2 === 0 },
  });
  const put = (record: WorkloadRecord) => {
    lastPut.set(record.id, record);
    return record;
  };
  return {
    next(seq) {
      const kind = rng.weighted({
        put: 0.55 - batchShare / 2,
        repeat: 0.06,
        putMany: batchShare,
        delete: 0.17,
        deleteMany: 0.04,
      });
      switch (kind) {
        case 'repeat': {
          const known = [...lastPut.values()];
          if (known.length > 0) return { kind: 'put', record: rng.pick(known) };
          return { kind: 'put', record: put(freshRecord(anyId(), seq)) };
        }
        case 'putMany': {
          const n = rng.int(2, maxBatch);
          const records: WorkloadRecord[] = [];
          for (let i = 0; i < n; i++) {
            // Now and then the same id twice in one batch: the last one must win.
            const id = i > 0 && rng.chance(0.15) ? records[rng.int(0, i - 1)]!.id : anyId();
            records.push(put(freshRecord(id, seq, i)));
          }
          return { kind: 'putMany', records };
        }
        case 'delete':
          return { kind: 'delete', id: anyId() };
        case 'deleteMany':
          return { kind: 'deleteMany', ids: [anyId(), anyId(), anyId()] };
        default:
          return { kind: 'put', record: put(freshRecord(anyId(), seq)) };
      }
    },
  };
}
