import { embeddingBytes } from '@dualwrite/sql';
import { type RawBuilder, sql } from 'kysely';

/**
 * How a store function takes its changes' embeddings: `'array'`, one `bytea[]` parameter (`p_embeddings`, the
 * functions `0003`–`0010` installed, which older processes call), or `'packed'`, every embedding's float32 bytes
 * end to end in one `bytea` (`p_embedding_bytes`) with each one's length in bytes (`p_embedding_lengths`, null
 * for a change without one), which the function unpacks into `v_embeddings`.
 *
 * Why packed: node-postgres sends a `Buffer` parameter in binary, but the elements of an array parameter as
 * text — each embedding as `\x` hex inside an array literal the server parses character by character. A one-put
 * call of the write function with a 384-d embedding took 0.62–0.69 ms with the array and 0.50–0.60 ms packed
 * (same connection, 3,000 calls each, alternating; 2026-12-07).
 */
export type EmbeddingsInput = 'array' | 'packed';

/** The pieces of a store function's SQL that depend on how it takes its embeddings ({@link EmbeddingsInput}). */
export interface EmbeddingsIn {
  /** The function's parameters that carry them, in its signature. */
  parameters: string;
  /** The PL/pgSQL variables the body declares for them (empty for `'array'`). */
  declare: string;
  /** The PL/pgSQL statements that fill those variables (empty for `'array'`). */
  unpack: string;
  /** The `bytea[]` the body reads them from, one element per change (null: none). */
  array: string;
}

/** The SQL pieces of `input` (see {@link EmbeddingsIn}). */
export function embeddingsIn(input: EmbeddingsInput): EmbeddingsIn {
  if (input === 'array')
    return { parameters: 'p_embeddings bytea[]', declare: '', unpack: '', array: 'p_embeddings' };
  return {
    parameters: 'p_embedding_bytes bytea, p_embedding_lengths int4[]',
    declare: "v_embeddings bytea[] := '{}'; v_offset int := 0;",
    unpack: `FOR i IN 1 .. coalesce(array_length(p_embedding_lengths, 1), 0) LOOP
        IF p_embedding_lengths[i] IS NULL THEN
          v_embeddings := v_embeddings || NULL::bytea;
        ELSE
          v_embeddings := v_embeddings || substring(p_embedding_bytes FROM v_offset + 1 FOR p_embedding_lengths[i]);
          v_offset := v_offset + p_embedding_lengths[i];
        END IF;
      END LOOP;`,
    array: 'v_embeddings',
  };
}

/**
 * The arguments of a `'packed'` function for `embeddings` (one per change, null: none), in their casts: each
 * embedding's stored bytes (`embeddingBytes` of `@dualwrite/sql`) end to end, and their lengths.
 */
export function packedEmbeddingsArguments(
  embeddings: readonly (readonly number[] | null)[],
): RawBuilder<unknown> {
  const each = embeddings.map((e) => (e === null ? null : embeddingBytes(e)));
  const bytes = Buffer.concat(each.filter((e): e is Buffer => e !== null));
  return sql`${bytes}::bytea, ${each.map((e) => (e === null ? null : e.byteLength))}::int4[]`;
}
