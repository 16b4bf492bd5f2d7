/**
 * Table layout, Arrow conversion and SQL literal helpers of the LanceDB adapter.
 *
 * Table columns (all non-nullable):
 *
 * | column     | Arrow type                        | content                                              |
 * | ---------- | --------------------------------- | ---------------------------------------------------- |
 * | `id`       | `Utf8`                            | record id, the merge-insert key                      |
 * | `vector`   | `FixedSizeList<Float32>[dimension]` | the embedding, rounded to float32                  |
 * | `text`     | `Utf8`                            | the record text                                      |
 * | `metadata` | `Utf8`                            | `JSON.stringify(metadata)`: keeps string / number / boolean exact |
 * | `version`  | `Int64`                           | source-of-truth version the vector was built from    |
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import * as arrowOfThisModule from 'apache-arrow';
import { Field, FixedSizeList, Float32, Int64, type Schema, Utf8 } from 'apache-arrow';

type ArrowModule = typeof import('apache-arrow');

/** Column names of the adapter's table. */
export const COLUMNS = Object.freeze({
  id: 'id',
  vector: 'vector',
  text: 'text',
  metadata: 'metadata',
  version: 'version',
});

/**
 * Metadata key on the `id` column holding the table instance's identity: a UUID written when the table
 * is created (or first opened by a version of the adapter that knows it). A table dropped and recreated
 * under the same name gets a new one, which is how dualwrite notices a replaced index.
 */
export const INDEX_ID_METADATA_KEY = 'dualwrite.index-id';

/**
 * Metadata key on the `id` column holding the owner token of the source of truth that feeds the table
 * (`LanceDbVectorStore.claimIndex`; the index binding refuses a second source).
 */
export const OWNER_METADATA_KEY = 'dualwrite.owner';

/**
 * Metadata key on the `id` column holding the index checkpoint (`LanceDbVectorStore.stampCheckpoint`, a decimal
 * integer): a schema commit, so restoring an older version of the table brings back an older checkpoint.
 */
export const CHECKPOINT_METADATA_KEY = 'dualwrite.checkpoint';

/** Prefix of the field metadata LanceDB writes for an unenforced primary key. */
export const PRIMARY_KEY_METADATA_PREFIX = 'lance-schema:unenforced-primary-key';

/** Arrow schema of the adapter's table for `dimension`-d vectors; `indexId` goes on the `id` column. */
export function lanceDbSchema(dimension: number, indexId?: string): Schema {
  return schemaOf(arrowOfThisModule, dimension, indexId);
}

/** {@link lanceDbSchema} built with the classes of the `arrow` instance given. */
function schemaOf(arrow: ArrowModule, dimension: number, indexId?: string) {
  const { Field, FixedSizeList, Float32, Int64, Schema, Utf8 } = arrow;
  const idMetadata = indexId === undefined ? undefined : new Map([[INDEX_ID_METADATA_KEY, indexId]]);
  return new Schema([
    new Field(COLUMNS.id, new Utf8(), false, idMetadata),
    new Field(COLUMNS.vector, new FixedSizeList(dimension, new Field('item', new Float32(), true)), false),
    new Field(COLUMNS.text, new Utf8(), false),
    new Field(COLUMNS.metadata, new Utf8(), false),
    new Field(COLUMNS.version, new Int64(), false),
  ]);
}

/**
 * What {@link inspectSchema} found wrong with an existing table, or its vector dimension and whether its
 * layout is exactly {@link lanceDbSchema}'s (`exact`: the same columns in the same order, types and
 * nullability — then writes hand LanceDB an Arrow table built by {@link toLanceTable}; otherwise LanceDB
 * converts plain rows against the table's own schema).
 */
export type SchemaInspection =
  | { ok: true; dimension: number; exact: boolean }
  | { ok: false; problem: string };

interface FieldLike {
  name: string;
  nullable?: boolean;
  type: {
    typeId: number;
    listSize?: number;
    bitWidth?: number;
    isSigned?: boolean;
    children?: { nullable?: boolean; type: { typeId: number; precision?: number } }[];
  };
}

/**
 * `true` when `fields` (already checked by {@link inspectSchema}) are {@link lanceDbSchema}'s, in its order,
 * with its integer width and nullability.
 */
function isExactLayout(fields: readonly FieldLike[]): boolean {
  const names = [COLUMNS.id, COLUMNS.vector, COLUMNS.text, COLUMNS.metadata, COLUMNS.version];
  const [, vector, , , version] = fields;
  return (
    fields.length === names.length &&
    fields.every((f, i) => f.name === names[i] && f.nullable === false) &&
    version!.type.bitWidth === 64 &&
    version!.type.isSigned === true &&
    vector!.type.children?.[0]?.nullable === true
  );
}

/**
 * Checks that an existing table has the adapter's columns with compatible types and reports its vector
 * dimension. Duck-typed, so a schema from another `apache-arrow` instance works too.
 */
export function inspectSchema(schema: { fields: readonly unknown[] }): SchemaInspection {
  const fields = new Map((schema.fields as FieldLike[]).map((f) => [f.name, f]));
  const utf8 = new Utf8().typeId;
  for (const name of [COLUMNS.id, COLUMNS.text, COLUMNS.metadata]) {
    const f = fields.get(name);
    if (!f) return { ok: false, problem: `column "${name}" is missing` };
    if (f.type.typeId !== utf8) return { ok: false, problem: `column "${name}" is not utf8` };
  }
  const version = fields.get(COLUMNS.version);
  if (!version) return { ok: false, problem: `column "${COLUMNS.version}" is missing` };
  if (version.type.typeId !== new Int64().typeId)
    return { ok: false, problem: `column "${COLUMNS.version}" is not an integer` };
  const vector = fields.get(COLUMNS.vector);
  if (!vector) return { ok: false, problem: `column "${COLUMNS.vector}" is missing` };
  const child = vector.type.children?.[0]?.type;
  if (
    vector.type.typeId !== new FixedSizeList(1, new Field('item', new Float32())).typeId ||
    typeof vector.type.listSize !== 'number' ||
    child?.typeId !== new Float32().typeId
  )
    return { ok: false, problem: `column "${COLUMNS.vector}" is not a fixed-size list of floats` };
  if (child.precision !== undefined && child.precision !== new Float32().precision)
    return { ok: false, problem: `column "${COLUMNS.vector}" is not a fixed-size list of float32` };
  return { ok: true, dimension: vector.type.listSize, exact: isExactLayout(schema.fields as FieldLike[]) };
}

/** A validated record ready to be written: metadata already serialised. */
export interface LanceDbRow {
  id: string;
  /** Exactly `dimension` finite numbers. */
  embedding: ArrayLike<number>;
  text: string;
  metadataJson: string;
  version: number;
}

/**
 * `apache-arrow` as LanceDB loads it. LanceDB `require`s the CommonJS build, while `import 'apache-arrow'`
 * here loads the ESM build: a `Table` of the ESM build fails LanceDB's cross-instance "sanitize" step ("Table
 * and inner RecordBatch schemas must be equivalent"). Resolved from LanceDB's own location on first use, so
 * it is the very instance LanceDB checks `instanceof` against, whichever version of its peer range is installed.
 */
let lanceArrow: ArrowModule | undefined;

function arrowOfLanceDb(): ArrowModule {
  if (lanceArrow === undefined) {
    const lancedbEntry = createRequire(import.meta.url).resolve('@lancedb/lancedb');
    lanceArrow = createRequire(lancedbEntry)('apache-arrow') as ArrowModule;
  }
  return lanceArrow;
}

/** Longest UTF-8 column of one Arrow batch: `Utf8` offsets are signed 32-bit, bytes. */
const MAX_UTF8_COLUMN_BYTES = 2 ** 31 - 1;

const utf8 = new TextEncoder();

/**
 * A non-null `Utf8` column of `strings`: one UTF-8 buffer of the exact size and its offsets, no per-value
 * builder. @throws {RangeError} past {@link MAX_UTF8_COLUMN_BYTES} in all.
 */
function utf8Column(arrow: ArrowModule, strings: readonly string[]) {
  const offsets = new Int32Array(strings.length + 1);
  let total = 0;
  for (const s of strings) total += Buffer.byteLength(s, 'utf8');
  if (total > MAX_UTF8_COLUMN_BYTES)
    throw new RangeError(`${total} bytes of text in one LanceDB write (at most ${MAX_UTF8_COLUMN_BYTES})`);
  const bytes = new Uint8Array(total);
  let end = 0;
  strings.forEach((s, i) => {
    end += utf8.encodeInto(s, bytes.subarray(end)).written;
    offsets[i + 1] = end;
  });
  return arrow.makeData({
    type: new arrow.Utf8(),
    length: strings.length,
    nullCount: 0,
    valueOffsets: offsets,
    data: bytes,
  });
}

/**
 * The Arrow table handed to LanceDB's merge insert for a table of exactly {@link lanceDbSchema}'s layout (see
 * {@link SchemaInspection}): its columns built straight from typed arrays. LanceDB's own conversion of plain
 * row objects ({@link toLanceRows}) appends every float through an Arrow builder, about 0.1 ms of the event
 * loop per 384-d row. Embeddings must already be validated for finiteness: LanceDB silently accepts NaN.
 * @throws {RangeError} when an embedding's length is not `dimension`, or the batch's text passes 2 GiB.
 */
export function toLanceTable(rows: readonly LanceDbRow[], dimension: number): import('apache-arrow').Table {
  const arrow = arrowOfLanceDb();
  const { Int64, RecordBatch, Struct, Table, makeData } = arrow;
  const n = rows.length;
  const floats = new Float32Array(n * dimension);
  const versions = new BigInt64Array(n);
  rows.forEach((row, i) => {
    if (row.embedding.length !== dimension)
      throw new RangeError(
        `embedding of "${row.id}" has ${row.embedding.length} components, not ${dimension}`,
      );
    floats.set(row.embedding, i * dimension);
    versions[i] = BigInt(row.version);
  });
  const schema = schemaOf(arrow, dimension);
  const vectorType = schema.fields[1]!.type as import('apache-arrow').FixedSizeList;
  const vector = makeData({
    type: vectorType,
    length: n,
    nullCount: 0,
    child: makeData({
      type: vectorType.children[0]!.type,
      length: n * dimension,
      nullCount: 0,
      data: floats,
    }),
  });
  const text = (pick: (row: LanceDbRow) => string) => utf8Column(arrow, rows.map(pick));
  const columns = [
    text((r) => r.id),
    vector,
    text((r) => r.text),
    text((r) => r.metadataJson),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: versions }),
  ];
  const batch = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children: columns });
  return new Table(schema, [new RecordBatch(schema, batch)]);
}

/**
 * The plain objects LanceDB's merge insert converts to Arrow against the table's own schema, one per row: the
 * path for a table whose layout is compatible but not exactly {@link lanceDbSchema}'s (other column order,
 * extra nullable columns, another integer type for `version`). Embeddings must already be validated.
 */
export function toLanceRows(rows: readonly LanceDbRow[]): Record<string, unknown>[] {
  return rows.map((row) => ({
    [COLUMNS.id]: row.id,
    [COLUMNS.vector]: Array.from(row.embedding),
    [COLUMNS.text]: row.text,
    [COLUMNS.metadata]: row.metadataJson,
    [COLUMNS.version]: BigInt(row.version),
  }));
}

/**
 * A SQL string literal for LanceDB filters (DataFusion SQL): wrapped in single quotes with every `'`
 * doubled. Backslashes are NOT escape characters in LanceDB string literals (verified: `'a\'` is the
 * two-character string `a\`), so nothing else needs escaping; newlines, tabs and any Unicode are literal.
 * A NUL cannot stand in a literal: a string holding one is `concat('…', chr(0), '…')` (verified to match, and
 * delete, such an id another tool wrote). Lone surrogates are never sent (UTF-8 cannot hold them).
 */
export function sqlString(value: string): string {
  const quoted = (part: string) => `'${part.replaceAll("'", "''")}'`;
  if (!value.includes('\u0000')) return quoted(value);
  return `concat(${value.split('\u0000').map(quoted).join(', chr(0), ')})`;
}

/** `id IN ('a', 'b', ...)` for a non-empty list of ids. */
export function idInPredicate(ids: readonly string[]): string {
  return `${COLUMNS.id} IN (${ids.map(sqlString).join(', ')})`;
}

/** `parts` joined with `OR` as a balanced tree of parentheses: depth log2(n), not n. */
function balancedOr(parts: readonly string[]): string {
  if (parts.length === 1) return parts[0]!;
  const half = Math.ceil(parts.length / 2);
  return `(${balancedOr(parts.slice(0, half))} OR ${balancedOr(parts.slice(half))})`;
}

/**
 * {@link idInPredicate}, except that each id `atMost` lists matches only at or below its version: one
 * `(version <= v AND id IN (…))` clause per distinct version (the unlisted ids in a plain `id IN (…)`), joined
 * as a balanced tree of `OR`s. A chain of 700 `… OR …` clauses, one per id, crashed the process in LanceDB's
 * native code (SIGSEGV, a break-it round; 500 did not); Lance's planner takes no `CASE`.
 */
export function fencedIdPredicate(ids: readonly string[], atMost?: ReadonlyMap<string, number>): string {
  if (atMost === undefined || !ids.some((id) => atMost.has(id))) return idInPredicate(ids);
  const byVersion = new Map<number, string[]>();
  const free: string[] = [];
  for (const id of ids) {
    const version = atMost.get(id);
    if (version === undefined) free.push(id);
    else {
      const group = byVersion.get(Math.trunc(version));
      if (group) group.push(id);
      else byVersion.set(Math.trunc(version), [id]);
    }
  }
  const parts = [...byVersion].map(
    ([version, group]) => `(${COLUMNS.version} <= ${version} AND ${idInPredicate(group)})`,
  );
  if (free.length > 0) parts.unshift(idInPredicate(free));
  return balancedOr(parts);
}

/** `id > '<after>'` (or `>=` with `inclusive`): ids after a cursor, in UTF-8 byte (= code point) order. */
export function idAfterPredicate(after: string, inclusive = false): string {
  return `${COLUMNS.id} ${inclusive ? '>=' : '>'} ${sqlString(after)}`;
}

/**
 * A coarse SQL prefilter for one metadata equality: `strpos(metadata, '"key":<json value>') > 0`.
 *
 * Metadata is stored as `JSON.stringify` of a flat object, which writes every entry as
 * `"key":value` with no whitespace, so a record whose `key` equals `value` always contains that
 * substring: the prefilter never drops a match. It can over-match (e.g. `"n":1` is a prefix of `"n":10`),
 * so callers must re-check the parsed metadata exactly. `strpos` is a plain substring search: no
 * LIKE wildcards to escape.
 */
export function metadataPrefilter(key: string, value: string | number | boolean): string {
  return `strpos(${COLUMNS.metadata}, ${sqlString(`${JSON.stringify(key)}:${JSON.stringify(value)}`)}) > 0`;
}
