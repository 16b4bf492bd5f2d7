import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';

/** A file to extract from: `label` prefixes record ids, `path` is where it is read. */
export interface SourceFile {
  label: string;
  path: string;
}

const SOURCE_EXTENSIONS = /\.(?:[cm]?tsx?|[cm]?jsx?)$/i;
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'build', 'coverage', 'out']);

/** Directory of the installed `typescript` package's `lib` folder (where `lib.*.d.ts` live). */
export function typescriptLibDir(): string {
  return dirname(createRequire(import.meta.url).resolve('typescript'));
}

/** TypeScript's bundled `lib.*.d.ts` files, sorted by name (byte order), labelled by file name. */
export function typescriptLibFiles(libDir: string = typescriptLibDir()): SourceFile[] {
  return readdirSync(libDir)
    .filter((name) => /^lib\..+\.d\.ts$/.test(name))
    .sort(compareCodepoints)
    .map((name) => ({ label: name, path: join(libDir, name) }));
}

/**
 * Every TS/JS file under `root` (`.ts`, `.tsx`, `.mts`, `.cts`, `.js`, `.jsx`, `.mjs`, `.cjs`, including
 * `.d.ts`), skipping hidden directories and `node_modules`, `dist`, `build`, `coverage`, `out`; sorted by
 * relative path so the extraction is deterministic. Labels are `/`-separated paths relative to `root`.
 */
export function sourceTreeFiles(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(path);
      } else if (entry.isFile() && SOURCE_EXTENSIONS.test(entry.name)) {
        out.push({ label: relative(root, path).split(sep).join('/'), path });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => compareCodepoints(a.label, b.label));
}

/** Locale-independent string order (UTF-16 code units), stable across machines. */
export function compareCodepoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
