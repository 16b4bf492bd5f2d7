import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRecords, collectSummaries } from '../src/input/build-records.js';
import { extractSummariesFromFile, extractSummariesFromText } from '../src/input/extract-summaries.js';
import { sourceTreeFiles, typescriptLibFiles } from '../src/input/source-files.js';

const fixture = join(import.meta.dirname, 'fixtures', 'sample.d.ts');

describe('extractSummariesFromFile', () => {
  const summaries = extractSummariesFromFile('sample.d.ts', fixture);
  const byId = new Map(summaries.map((s) => [s.id, s]));

  it('finds every documented declaration with its qualified name and level, in source order', () => {
    expect(summaries.map((s) => [s.id, s.level])).toEqual([
      ['sample.d.ts:Widget', 'interface'],
      ['sample.d.ts:Widget.height', 'property'],
      ['sample.d.ts:Widget.draw', 'method'],
      ['sample.d.ts:Widget.label', 'accessor'],
      ['sample.d.ts:makeWidget', 'function'],
      ['sample.d.ts:makeWidget~2', 'function'],
      ['sample.d.ts:DEFAULT_SIZE', 'variable'],
      ['sample.d.ts:MaybeWidget', 'type'],
      ['sample.d.ts:Geometry', 'module'],
      ['sample.d.ts:Geometry.area', 'function'],
      ['sample.d.ts:Geometry.Point', 'interface'],
      ['sample.d.ts:Geometry.Point.x', 'property'],
      ['sample.d.ts:Gadget', 'class'],
      ['sample.d.ts:Gadget.constructor', 'constructor'],
      ['sample.d.ts:Gadget.spin', 'method'],
      ['sample.d.ts:Colour', 'enum'],
      ['sample.d.ts:Colour.Green', 'enum-member'],
    ]);
  });

  it('keeps the JSDoc text (description and tags) and skips undocumented and bare-tag declarations', () => {
    expect(byId.get('sample.d.ts:Widget.height')?.text).toBe('How tall the widget is, in pixels.');
    expect(byId.get('sample.d.ts:Widget.draw')?.text).toBe('Draws the widget.\n@param ctx where to draw');
    expect(byId.get('sample.d.ts:Widget.height')).toMatchObject({
      file: 'sample.d.ts',
      name: 'Widget.height',
    });
    for (const id of [
      'Widget.undocumented',
      'Widget.bareTagOnly',
      'Undocumented',
      'Undocumented.alsoUndocumented',
    ])
      expect(byId.has(`sample.d.ts:${id}`)).toBe(false);
  });

  it('is deterministic and gives unique ids', () => {
    const again = extractSummariesFromFile('sample.d.ts', fixture);
    expect(again).toEqual(summaries);
    expect(new Set(summaries.map((s) => s.id)).size).toBe(summaries.length);
  });
});

describe('extractSummariesFromText', () => {
  it('reads JSDoc from JavaScript sources too', () => {
    const js =
      '/** Adds two numbers. */\nexport function add(a, b) { return a + b; }\nclass K {\n  /** Runs. */\n  run() {}\n}\n';
    expect(extractSummariesFromText('m.js', 'm.js', js).map((s) => [s.id, s.level, s.text])).toEqual([
      ['m.js:add', 'function', 'Adds two numbers.'],
      ['m.js:K.run', 'method', 'Runs.'],
    ]);
  });
});

describe('input files', () => {
  it("lists TypeScript's lib.*.d.ts sorted, and finds documented DOM declarations", () => {
    const files = typescriptLibFiles();
    expect(files.length).toBeGreaterThan(50);
    expect(files.map((f) => f.label)).toEqual([...files.map((f) => f.label)].sort());
    expect(files.every((f) => /^lib\..+\.d\.ts$/.test(f.label))).toBe(true);
    const dom = files.find((f) => f.label === 'lib.dom.d.ts')!;
    const click = extractSummariesFromFile(dom.label, dom.path).find(
      (s) => s.id === 'lib.dom.d.ts:HTMLElement.click',
    );
    expect(click).toMatchObject({ level: 'method', name: 'HTMLElement.click' });
  });

  it('walks a --source tree in sorted order, skipping node_modules and hidden directories', () => {
    const root = mkdtempSync(join(tmpdir(), 'bench-src-'));
    for (const [path, text] of [
      ['b.ts', '/** B. */ export const b = 1;'],
      ['a/x.js', '/** X. */ function x() {}'],
      ['node_modules/dep/index.ts', '/** Dep. */ export const d = 1;'],
      ['.hidden/h.ts', '/** H. */ export const h = 1;'],
      ['notes.md', 'not code'],
    ]) {
      const full = join(root, path!);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text!);
    }
    expect(sourceTreeFiles(root).map((f) => f.label)).toEqual(['a/x.js', 'b.ts']);
    const { summaries } = collectSummaries(sourceTreeFiles(root), 10);
    expect(summaries.map((s) => s.id)).toEqual(['a/x.js:x', 'b.ts:b']);
  });
});

describe('buildRecords', () => {
  it('cycles with #2, #3 suffixes when fewer declarations exist than records asked for', () => {
    const root = mkdtempSync(join(tmpdir(), 'bench-src-'));
    writeFileSync(
      join(root, 'one.ts'),
      '/** One. */ export const one = 1;\n/** Two. */ export const two = 2;',
    );
    const { records, info } = buildRecords({ sourceDir: root, count: 5, dim: 16 });
    expect(records.map((r) => r.id)).toEqual([
      'one.ts:one',
      'one.ts:two',
      'one.ts:one#2',
      'one.ts:two#2',
      'one.ts:one#3',
    ]);
    expect(info).toMatchObject({ available: 2, produced: 5, cycled: true });
    expect(records[0]!.embedding).toHaveLength(16);
    expect(records[0]!.metadata).toEqual({ level: 'variable', file: 'one.ts', symbol: 'one' });
  });
});
