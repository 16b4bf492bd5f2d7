import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The machine the benchmark ran on. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
}

/** CPU model, core count, memory, OS and Node version. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} (${os.platform()}/${os.arch()})`,
    node: process.version,
  };
}

/** One line for humans: `AMD EPYC, 2 cores, 23.5 GB, Linux ... (linux/x64), Node v20.20.2`. */
export function describeMachine(m: Partial<MachineInfo> | undefined): string {
  if (!m) return '';
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}`;
}

/** Directory of this package (`apps/bench`). */
export function benchPackageDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/**
 * Finds `node_modules/<name>/package.json` walking up from `fromDir` (Node's lookup), without going
 * through the package's `exports` (which do not expose `package.json`).
 */
export function findPackageJson(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return realpathSync(candidate);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Versions of the packages the numbers depend on: the workspace packages and the backend clients they
 * use (looked up from the workspace package that depends on them).
 */
export function packageVersions(): Record<string, string> {
  const bench = benchPackageDir();
  const out: Record<string, string> = {};
  const version = (path: string | undefined) =>
    path
      ? ((JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? 'unknown')
      : 'not installed';
  out['@dualwrite/bench'] = version(join(bench, 'package.json'));
  const dependents: Record<string, string[]> = {
    '@dualwrite/core': [],
    '@dualwrite/sqlite': ['kysely', 'better-sqlite3'],
    '@dualwrite/lancedb': ['@lancedb/lancedb', 'apache-arrow'],
    '@dualwrite/chroma': ['chromadb'],
    '@dualwrite/postgres': ['kysely', 'pg'],
    '@dualwrite/mysql': ['kysely', 'mysql2'],
    '@dualwrite/worker': ['pino'],
  };
  for (const [pkg, deps] of Object.entries(dependents)) {
    const path = findPackageJson(pkg, bench);
    out[pkg] = version(path);
    for (const dep of deps) out[dep] = version(path ? findPackageJson(dep, dirname(path)) : undefined);
  }
  out.typescript = version(findPackageJson('typescript', bench));
  return out;
}

/** `git rev-parse --short HEAD` of the checkout, or `undefined` outside a git work tree. */
export function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: benchPackageDir(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}
