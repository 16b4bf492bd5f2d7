#!/usr/bin/env node
// Starts/stops a background local Chroma server for development, tests and benchmarks.
//
//   node scripts/chroma-server.mjs start [--port N] [--path DIR] [--host H] [--timeout MS]
//   node scripts/chroma-server.mjs stop | status | prepare
//
// `start` prints the server URL on stdout and records pid/port in <repo>/.cache/chroma-server.json.
// `prepare` only readies the runtime (glibc shim download on glibc < 2.38), e.g. to warm a CI cache.
//
// Works without a build: it loads ../dist/chroma-local-server.js when that is at least as new as
// ../src/chroma-local-server.ts, otherwise it transpiles that single source file (it only imports node:*
// built-ins) with the workspace's `typescript` into node_modules/.cache/dualwrite-chroma/ and loads that.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(packageDir, 'src', 'chroma-local-server.ts');
const built = join(packageDir, 'dist', 'chroma-local-server.js');

function mtime(file) {
  return existsSync(file) ? statSync(file).mtimeMs : -1;
}

async function loadLauncher() {
  if (mtime(built) >= mtime(source)) return import(pathToFileURL(built).href);
  const require = createRequire(import.meta.url);
  const ts = require('typescript');
  const output = ts.transpileModule(readFileSync(source, 'utf8'), {
    fileName: source,
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, sourceMap: false },
  }).outputText;
  // Inside the package's node_modules so `chromadb` resolves exactly as it does from src/ and dist/.
  const outDir = join(packageDir, 'node_modules', '.cache', 'dualwrite-chroma');
  const outFile = join(outDir, 'chroma-local-server.mjs');
  mkdirSync(outDir, { recursive: true });
  if (!existsSync(outFile) || readFileSync(outFile, 'utf8') !== output) writeFileSync(outFile, output);
  return import(pathToFileURL(outFile).href);
}

const launcher = await loadLauncher();
process.exitCode = await launcher.runChromaServerCli(process.argv.slice(2));
