/**
 * What a new user outside the monorepo gets: every publishable package is packed (`pnpm pack`, so
 * `workspace:` ranges become real versions and only the `files` ship), the tarballs are installed with npm
 * into a fresh project in a temp dir, and there
 * - the README's "Use it" example, extracted from README.md (so the two cannot drift), typechecks with
 *   `tsc --strict` against the installed packages' declarations (no devDependency of ours needed), compiles
 *   and runs on embedded defaults;
 * - the installed `dualwrite-worker --help` works, and `dualwrite verify` / `dualwrite status` read the data
 *   the example wrote;
 * - the entries documented as needing no test runner load without vitest.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The packages a user installs: every workspace package not marked `private` (the apps, bench and harness are). */
const PUBLISHABLE = ['packages', 'apps'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .map((name) => `${dir}/${name}`)
    .filter((pkg) => {
      const file = join(ROOT, pkg, 'package.json');
      return existsSync(file) && !(JSON.parse(readFileSync(file, 'utf8')) as { private?: boolean }).private;
    }),
);

/** The first ```ts block after `heading` in README.md. */
function extractExample(readme: string, heading: string): string {
  const start = readme.indexOf(heading);
  if (start < 0) throw new Error(`README.md has no ${JSON.stringify(heading)}`);
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
  if (!match) throw new Error(`no \`\`\`ts block after ${JSON.stringify(heading)}`);
  return match[1]!;
}

/** Node's own headers, when installed (Debian's nodejs): node-gyp builds against them, offline. */
function nodeHeadersEnv(): Record<string, string> {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node.h')) ? { npm_config_nodedir: prefix } : {};
}

describe('a consumer project outside the workspace', () => {
  let dir: string;
  let app: string;
  const sh = (file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
    run(file, args, {
      cwd: options.cwd ?? app,
      env: { ...process.env, ...nodeHeadersEnv(), ...options.env },
      maxBuffer: 64 << 20,
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dw-consumer-'));
    const tarballs = join(dir, 'tarballs');
    app = join(dir, 'app');
    await mkdir(tarballs);
    await mkdir(app);
    const deps: Record<string, string> = {};
    for (const pkg of PUBLISHABLE) {
      const before = new Set(await readdir(tarballs));
      await sh('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(ROOT, pkg) });
      const file = (await readdir(tarballs)).find((f) => !before.has(f))!;
      const { name } = JSON.parse(await readFile(join(ROOT, pkg, 'package.json'), 'utf8')) as {
        name: string;
      };
      deps[name] = `file:${join(tarballs, file)}`;
    }
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'consumer',
          private: true,
          type: 'module',
          dependencies: deps,
          // the tarballs depend on each other by version (0.1.0 is not on the registry): point them here
          overrides: deps,
          devDependencies: { typescript: '5.9.3', '@types/node': '^20.19.0' },
        },
        null,
        2,
      ),
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          outDir: 'dist',
          skipLibCheck: false,
          // what `tsc --init` turns on since TypeScript 5.9: the declarations must hold under it too
          exactOptionalPropertyTypes: true,
          types: ['node'],
        },
        include: ['example.ts'],
      }),
    );
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    await writeFile(join(app, 'example.ts'), extractExample(readme, '## Use it'));
    await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error']);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the README's example typechecks with tsc --strict, compiles and runs", async () => {
    const tsc = await sh(join(app, 'node_modules/.bin/tsc'), ['-p', '.']).catch(
      (e: { stdout: string; stderr: string }) => {
        throw new Error(`tsc --strict failed:\n${e.stdout}${e.stderr}`);
      },
    );
    expect(tsc.stderr).toBe('');
    const { stdout } = await sh(process.execPath, ['dist/example.js']);
    expect(stdout).toContain('pkg.mod.fn');
  });

  it('the entries that need no test runner load without vitest installed; every package ships its LICENSE', async () => {
    const entries = [
      '@dualwrite/core/testing/stores',
      '@dualwrite/sql/testing',
      '@dualwrite/chroma/local-server',
    ];
    const script = `for (const e of ${JSON.stringify(entries)}) await import(e);`;
    await sh(process.execPath, ['--input-type=module', '-e', script]);
    expect(existsSync(join(app, 'node_modules/vitest')), 'the consumer project has no vitest').toBe(false);
    for (const name of readdirSync(join(app, 'node_modules/@dualwrite')))
      expect(
        existsSync(join(app, 'node_modules/@dualwrite', name, 'LICENSE')),
        `@dualwrite/${name} ships its LICENSE`,
      ).toBe(true);
  });

  it('the installed CLIs run: dualwrite-worker --help, dualwrite --version, dualwrite verify and status on the example data', async () => {
    const help = await sh(join(app, 'node_modules/.bin/dualwrite-worker'), ['--help']);
    expect(help.stdout).toMatch(/--database-url/);
    const version = await sh(join(app, 'node_modules/.bin/dualwrite'), ['--version']);
    expect(version.stdout.trim(), 'the installed package version').toMatch(/^\d+\.\d+\.\d+/);
    // No flags: the CLI's defaults (shared with every process by @dualwrite/config) are the example's paths.
    const verify = await sh(join(app, 'node_modules/.bin/dualwrite'), ['verify', '--json']);
    expect(JSON.parse(verify.stdout)).toMatchObject({ consistent: true, records: 1, vectors: 1 });
    const status = await sh(join(app, 'node_modules/.bin/dualwrite'), ['status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({
      outboxDepth: 0,
      binding: { backend: 'lancedb', collection: 'dualwrite', embedder: 'hashing-v1:384' },
    });
  });
});
