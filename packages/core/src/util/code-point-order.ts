/**
 * Compares two strings by Unicode code point (= UTF-8 byte order: SQLite's `BINARY`, PostgreSQL's `"C"`
 * collation). JavaScript's `<` compares UTF-16 code units, which orders astral characters differently.
 */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
