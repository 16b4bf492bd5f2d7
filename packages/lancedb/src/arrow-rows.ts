/**
 * Rows of an Arrow table as plain objects, with strings decoded exactly.
 *
 * Apache Arrow's JavaScript reader decodes every UTF-8 value with a shared `TextDecoder('utf-8')`, which drops a
 * leading U+FEFF (byte order mark) from each value (WHATWG Encoding, "decode": BOM sniffing; `ignoreBOM` is off by
 * default; `apache-arrow` `util/utf8`). An id `"\uFEFFx"` then reads back as `"x"` — two distinct ids merge — and a
 * text starting with U+FEFF never reads back equal to what was written. Here string columns are decoded with
 * `ignoreBOM: true` straight from the column's offsets and bytes; other columns as Arrow reads them.
 *
 * @packageDocumentation
 */
import { Type } from 'apache-arrow';

/** Keeps a leading U+FEFF: it is part of the value, not a byte order mark. */
const exactUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The parts of an Arrow column chunk read here (duck-typed: LanceDB may load another `apache-arrow` instance). */
interface ArrowData {
  readonly length: number;
  readonly valueOffsets: ArrayLike<number | bigint>;
  readonly values: Uint8Array;
  getValid(index: number): boolean;
}

/** The parts of an Arrow table read here. */
export interface ArrowTableLike {
  readonly numRows: number;
  readonly schema: {
    readonly fields: readonly { readonly name: string; readonly type: { readonly typeId: number } }[];
  };
  getChild(name: string): { readonly data: readonly ArrowData[]; get(index: number): unknown } | null;
}

/** `table`'s rows as plain objects keyed by column name; UTF-8 columns decoded exactly (see the module doc). */
export function rowsOfTable<Row>(table: ArrowTableLike): Row[] {
  const rows: Record<string, unknown>[] = Array.from({ length: table.numRows }, () => ({}));
  for (const field of table.schema.fields) {
    const column = table.getChild(field.name);
    if (column === null) continue;
    const { typeId } = field.type;
    if (typeId === Type.Utf8 || typeId === Type.LargeUtf8) {
      let row = 0;
      for (const data of column.data)
        for (let i = 0; i < data.length; i++, row++)
          rows[row]![field.name] = data.getValid(i)
            ? exactUtf8.decode(
                data.values.subarray(Number(data.valueOffsets[i]), Number(data.valueOffsets[i + 1])),
              )
            : null;
    } else for (let row = 0; row < rows.length; row++) rows[row]![field.name] = column.get(row);
  }
  return rows as Row[];
}
