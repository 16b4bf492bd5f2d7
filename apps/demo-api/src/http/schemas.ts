import Type, { type Static } from 'typebox';
import { SUMMARY_LEVELS } from '../summaries/table.js';

/**
 * Request and response schemas of the HTTP API (TypeBox → JSON Schema). Fastify validates requests with
 * them and `@fastify/swagger` turns the same objects into `GET /openapi.json`.
 */

const strict = { additionalProperties: false } as const;

/** Largest number of summaries in one `POST /summaries`. */
export const MAX_BATCH = 1_000;
/** Largest page of `GET /summaries` and `GET /sync/dead-letters`. */
export const MAX_PAGE = 500;

/** Summary level: `method`, `class`, `module` or `package`. */
export const Level = Type.Enum([...SUMMARY_LEVELS], { description: 'Granularity of the summarised symbol.' });

/** Fully-qualified name of a code symbol (the summary id). */
/**
 * What an fqn may not contain: whitespace, control characters (U+0000 among them, which PostgreSQL cannot store
 * in text and answered with a 500) and bidirectional overrides (they make one fqn display as another); nor may it
 * be `.` or `..`, which URL normalisation turns into another path (no browser or `fetch` could address them).
 */
export const FQN_PATTERN = '^(?!\\.{1,2}$)[^\\s\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]+$';

export const Fqn = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: FQN_PATTERN,
  description:
    'Fully-qualified name of the code symbol, e.g. `pkg.module.Class.method` (no whitespace, control or ' +
    'bidirectional-override characters).',
  examples: ['pkg.module.Class.method'],
});

/** A client-computed embedding (length checked against the service dimension). */
export const Embedding = Type.Array(Type.Number(), {
  minItems: 1,
  maxItems: 65_536,
  description: "Optional client-computed embedding; its length must equal the service's dimension.",
});

/** The summary text. */
export const SummaryText = Type.String({ minLength: 1, maxLength: 65_536, description: 'The summary text.' });

const summaryFields = {
  summary: SummaryText,
  level: Level,
  stale: Type.Optional(
    Type.Boolean({ default: false, description: 'The code changed since this summary was written.' }),
  ),
  embedding: Type.Optional(Embedding),
};

/** One summary as written by a client. */
export const SummaryInput = Type.Object({ targetFqn: Fqn, ...summaryFields }, strict);
/** Static type of {@link SummaryInput}. */
export type SummaryInput = Static<typeof SummaryInput>;

/** `PUT /summaries/:fqn` body: the fqn comes from the path (a `targetFqn` in the body must match it). */
export const SummaryPutBody = Type.Object({ targetFqn: Type.Optional(Fqn), ...summaryFields }, strict);
/** Static type of {@link SummaryPutBody}. */
export type SummaryPutBody = Static<typeof SummaryPutBody>;

/** `POST /summaries` body: one or more summaries, written in one transaction. */
export const SummaryBatchBody = Type.Object(
  { summaries: Type.Array(SummaryInput, { minItems: 1, maxItems: MAX_BATCH }) },
  strict,
);
/** Static type of {@link SummaryBatchBody}. */
export type SummaryBatchBody = Static<typeof SummaryBatchBody>;

/** Path parameters of `/summaries/{fqn}`. */
export const FqnParams = Type.Object({ fqn: Fqn });

/** A stored summary. */
export const Summary = Type.Object({
  targetFqn: Fqn,
  summary: Type.String(),
  level: Level,
  stale: Type.Boolean(),
  version: Type.Integer({ description: 'dualwrite record version (store-wide sequence).' }),
  createdAt: Type.Integer({ description: 'Unix ms.' }),
  updatedAt: Type.Integer({ description: 'Unix ms.' }),
  embedding: Type.Optional(
    Type.Array(Type.Number(), { description: 'Only with `?embedding=true`, once it is computed.' }),
  ),
});
/** Static type of {@link Summary}. */
export type Summary = Static<typeof Summary>;

/** Where a write stands between SQL and the index. */
export const SyncStateName = Type.Enum(['synced', 'pending', 'dead-lettered', 'drifted', 'absent'], {
  description: "Where the write stands in the vector index (see dualwrite's SyncStatus).",
});

/** Outcome of one write. */
export const WriteOutcome = Type.Object({
  targetFqn: Fqn,
  version: Type.Union([Type.Integer(), Type.Null()]),
  created: Type.Boolean(),
  changed: Type.Boolean({ description: '`false` when the content was identical (nothing written).' }),
  sync: SyncStateName,
  syncError: Type.Optional(Type.String()),
});
/** Static type of {@link WriteOutcome}. */
export type WriteOutcome = Static<typeof WriteOutcome>;

/** `PUT /summaries/{fqn}` answer: the stored summary and the write outcome. */
export const SummaryWriteResponse = Type.Object({
  summary: Summary,
  outcome: WriteOutcome,
});

/** `POST /summaries` answer: one outcome per input, in order. */
export const SummaryBatchResponse = Type.Object({ results: Type.Array(WriteOutcome) });

/** `GET /summaries/{fqn}` query: `?embedding=true` adds the stored vector. */
export const EmbeddingFlagQuery = Type.Object(
  {
    embedding: Type.Optional(Type.Boolean({ default: false, description: 'Include the stored embedding.' })),
  },
  strict,
);

/** `GET /summaries` query: filters and cursor paging. */
export const ListQuery = Type.Object(
  {
    level: Type.Optional(Level),
    stale: Type.Optional(Type.Boolean()),
    cursor: Type.Optional(
      Type.String({ maxLength: 2_048, description: '`nextCursor` of the previous page.' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 50 })),
  },
  strict,
);
/** Static type of {@link ListQuery}. */
export type ListQuery = Static<typeof ListQuery>;

/** One page of `GET /summaries`. */
export const SummaryPage = Type.Object({
  items: Type.Array(Summary),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

/** Equality filter of `POST /search` on `level` and/or `stale`. */
export const SearchFilter = Type.Object(
  { level: Type.Optional(Level), stale: Type.Optional(Type.Boolean()) },
  strict,
);

/** `POST /search` body: exactly one of `text` and `embedding`. */
export const SearchBody = Type.Object(
  {
    text: Type.Optional(
      Type.String({ minLength: 1, maxLength: 8_192, description: 'Query text (embedded).' }),
    ),
    embedding: Type.Optional(Embedding),
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    filter: Type.Optional(SearchFilter),
  },
  strict,
);
/** Static type of {@link SearchBody}. */
export type SearchBody = Static<typeof SearchBody>;

/** One search result, answered from the source of truth. */
export const SearchHit = Type.Object({
  targetFqn: Fqn,
  summary: Type.String(),
  level: Level,
  stale: Type.Boolean(),
  score: Type.Number({ description: 'Similarity, higher is closer (cosine for LanceDB).' }),
  distance: Type.Number(),
  version: Type.Integer(),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
});
/** Static type of {@link SearchHit}. */
export type SearchHit = Static<typeof SearchHit>;

/** `POST /search` answer. */
export const SearchResponse = Type.Object({ hits: Type.Array(SearchHit) });

/** Body of every error answer. */
export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String({
      description: 'VALIDATION, DIMENSION_MISMATCH, NOT_FOUND, UNAUTHORIZED, BACKPRESSURE, ...',
    }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'The offending field, e.g. `summaries[2].level`.' })),
    limit: Type.Optional(Type.String({ description: 'The constraint that failed.' })),
    retryable: Type.Optional(Type.Boolean()),
    requestId: Type.Optional(Type.String()),
  }),
});
/** Static type of {@link ErrorResponse}. */
export type ErrorResponse = Static<typeof ErrorResponse>;

const Counters = Type.Object({
  vectorCalls: Type.Integer(),
  vectorRecords: Type.Integer(),
  retries: Type.Integer(),
  deadLettered: Type.Integer(),
  synced: Type.Integer(),
  embedderCalls: Type.Integer(),
  embeddedTexts: Type.Integer(),
  embeddingCacheHits: Type.Integer(),
  embeddingCacheEvicted: Type.Integer(),
  compensations: Type.Integer(),
});

/** `GET /sync/status` answer (from `dw.stats()`). */
export const SyncStatusResponse = Type.Object({
  strategy: Type.String(),
  backends: Type.Object({ relational: Type.String(), vector: Type.String(), embedder: Type.String() }),
  outboxDepth: Type.Integer(),
  inFlight: Type.Integer(),
  deadLetters: Type.Integer(),
  oldestPendingAgeMs: Type.Integer(),
  paused: Type.Boolean(),
  deliveryStopped: Type.Union([Type.String(), Type.Null()], {
    description:
      'Why delivery is stopped for good (the source is bound to another index or embedder), or null.',
  }),
  backendDown: Type.Boolean(),
  downBackend: Type.Union([Type.Literal('vector'), Type.Literal('embedder'), Type.Null()], {
    description: 'What is unreachable while backendDown: the vector index or the embedder; null otherwise.',
  }),
  counters: Counters,
  summaries: Type.Integer({ description: 'Rows in the summaries table.' }),
});

/** `POST /sync/flush` body. */
export const FlushBody = Type.Object(
  { timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 300_000, default: 30_000 })) },
  strict,
);
/** `POST /sync/flush` answer. */
export const FlushResponse = Type.Object({
  pending: Type.Integer(),
  deadLetters: Type.Integer(),
  durationMs: Type.Number(),
});

/** `POST /sync/reconcile` body. */
export const ReconcileBody = Type.Object(
  {
    mode: Type.Optional(Type.Enum(['full', 'sample'], { default: 'full' })),
    dryRun: Type.Optional(Type.Boolean({ default: false })),
    sampleRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
  },
  strict,
);
/** Static type of {@link ReconcileBody}. */
export type ReconcileBody = Static<typeof ReconcileBody>;

/** `POST /sync/reconcile` answer (core `ReconcileReport`). */
export const ReconcileResponse = Type.Object({
  mode: Type.String(),
  dryRun: Type.Boolean(),
  checkedRecords: Type.Integer(),
  checkedVectors: Type.Integer(),
  missing: Type.Integer(),
  stale: Type.Integer(),
  mismatched: Type.Integer({
    description: 'Rows at the current version with other text, metadata or vector.',
  }),
  orphans: Type.Integer(),
  repairsEnqueued: Type.Integer(),
  tombstonesPurged: Type.Integer({
    description: 'Settled tombstones deleted from the source of truth (deletes the index already applied).',
  }),
  durationMs: Type.Number(),
});

/** `GET /sync/dead-letters` query. */
export const DeadLetterQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100 })),
  },
  strict,
);

/** A dead-lettered change and why. */
export const DeadLetter = Type.Object({
  targetFqn: Type.String(),
  version: Type.Integer(),
  op: Type.String({ description: '`upsert` or `delete`.' }),
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  enqueuedAt: Type.Integer(),
});
/** Static type of {@link DeadLetter}. */
export type DeadLetter = Static<typeof DeadLetter>;

/** One page of dead letters; pass `nextCursor` as `after`. */
export const DeadLetterPage = Type.Object({
  items: Type.Array(DeadLetter),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

/** `POST /sync/dead-letters/requeue` body. */
export const RequeueBody = Type.Object(
  {
    ids: Type.Optional(
      Type.Array(Fqn, {
        minItems: 1,
        maxItems: 10_000,
        description: 'Only these; all dead letters when absent.',
      }),
    ),
  },
  strict,
);
/** `POST /sync/dead-letters/requeue` answer. */
export const RequeueResponse = Type.Object({ requeued: Type.Integer() });

/** One sample of the dashboard history. */
export const HistorySample = Type.Object({
  at: Type.Integer({ description: 'Unix ms.' }),
  outboxDepth: Type.Integer(),
  oldestPendingAgeMs: Type.Integer(),
  deadLetters: Type.Integer(),
  syncedPerSec: Type.Number(),
  writesPerSec: Type.Number(),
});
/** `GET /sync/history` answer. */
export const HistoryResponse = Type.Object({
  intervalMs: Type.Integer(),
  samples: Type.Array(HistorySample),
});

/** `GET /health` answer. */
export const HealthResponse = Type.Object({ status: Type.String() });
/** `GET /ready` answer (200 ready, 503 not ready). */
export const ReadyResponse = Type.Object({
  status: Type.Enum(['ready', 'not-ready']),
  checks: Type.Object({
    relational: Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
    vector: Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
    embedder: Type.Object({ ok: Type.Boolean(), error: Type.Optional(Type.String()) }),
  }),
});
