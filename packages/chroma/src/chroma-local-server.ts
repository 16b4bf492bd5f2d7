/**
 * Local Chroma server launcher for development, tests and benchmarks.
 *
 * The `chromadb` npm package (3.x) ships a CLI (`chroma run --path DIR --port P`) that runs a real Chroma
 * 1.x server in-process through a native binding (`chromadb-js-bindings-<platform>`). On Linux x64 that
 * binding is linked against glibc ≥ 2.39 (it references `GLIBC_2.38`/`GLIBC_2.39` symbols), so it cannot be
 * loaded on Debian 12 (glibc 2.36). When the running glibc is older than {@link MIN_GLIBC_FOR_BINDING},
 * {@link ensureChromaRuntime} downloads Debian 13 (trixie)'s `libc6`, `libstdc++6` and `libgcc-s1`
 * packages with `apt-get download` (private apt state; the system's sources and lists are never touched),
 * unpacks them with `dpkg -x` into a cache folder, and runs node through that folder's dynamic loader:
 *
 * ```text
 * <cache>/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path <cache>/usr/lib/x86_64-linux-gnu \
 *   $(which node) --import <signal guard> .../chromadb/dist/cli.mjs run --path DIR --host H --port P
 * ```
 *
 * IMPORTANT: this file must only import `node:*` built-ins. `scripts/chroma-server.mjs` transpiles it on the
 * fly (single-file `typescript.transpileModule`) when `dist/` is missing or stale.
 *
 * @packageDocumentation
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** glibc version the Linux x64/arm64 `chromadb-js-bindings` need (they reference `GLIBC_2.38`+ symbols). */
export const MIN_GLIBC_FOR_BINDING = '2.38';

/** Debian suite the glibc shim packages come from. */
export const GLIBC_SHIM_SUITE = 'trixie';

/** Debian packages unpacked into the shim folder (the binding's `NEEDED` libs: libc/libm/ld.so, libstdc++, libgcc_s). */
export const GLIBC_SHIM_PACKAGES: readonly string[] = Object.freeze(['libc6', 'libstdc++6', 'libgcc-s1']);

const MARKER_FILE = 'dualwrite-glibc-shim.json';
const DEFAULT_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * Preloaded with `node --import` in the server process. Node's built-in SIGTERM/SIGINT handler re-raises the
 * signal; the Rust server's tokio signal handler chains to it, so a plain `kill <pid>` makes the process spin
 * at 100% CPU forever instead of exiting (observed with chromadb 3.5.0 / bindings 1.3.4). Registering JS
 * listeners replaces node's re-raising handler with libuv's, so the Rust side shuts down gracefully, the
 * CLI call returns and the process exits.
 */
const SIGNAL_GUARD_URL = `data:text/javascript,${encodeURIComponent(
  "for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => process.exit(0));",
)}`;

/** Per-architecture facts for the glibc shim. */
interface ShimArch {
  debArch: string;
  triplet: string;
  loader: string;
  binding: string;
}

const SHIM_ARCHES: Record<string, ShimArch> = {
  x64: {
    debArch: 'amd64',
    triplet: 'x86_64-linux-gnu',
    loader: 'ld-linux-x86-64.so.2',
    binding: 'chromadb-js-bindings-linux-x64-gnu',
  },
  arm64: {
    debArch: 'arm64',
    triplet: 'aarch64-linux-gnu',
    loader: 'ld-linux-aarch64.so.1',
    binding: 'chromadb-js-bindings-linux-arm64-gnu',
  },
};

/** Contents of the marker file written into a finished shim folder. */
export interface GlibcShimInfo {
  /** Debian suite the packages came from, e.g. `'trixie'`. */
  suite: string;
  /** Debian architecture, e.g. `'amd64'`. */
  arch: string;
  /** Mirror the packages were downloaded from. */
  mirror: string;
  /** Package name → Debian version, e.g. `{ libc6: '2.41-12+deb13u5' }`. */
  packages: Record<string, string>;
  /** glibc version node reports when run through the shim loader, e.g. `'2.41'`. */
  glibcVersion: string;
  /** ISO timestamp of creation. */
  createdAt: string;
}

/** What {@link ensureChromaRuntime} resolved: how to run the `chroma` CLI on this machine. */
export interface ChromaRuntime {
  /**
   * Executable to spawn: the shim's dynamic loader when the glibc shim is used, otherwise `process.execPath`.
   */
  command: string;
  /**
   * Arguments to put before the CLI's own arguments (`run --path ...`): loader options, the node binary, the
   * signal-guard `--import`, and the CLI script path.
   */
  args: string[];
  /** Absolute path of `chromadb/dist/cli.mjs`. */
  cliPath: string;
  /** glibc version of the system (`undefined` on non-glibc platforms). */
  systemGlibc: string | undefined;
  /** Shim folder and its info when the shim is in use, otherwise `undefined`. */
  shim: { dir: string; libraryPath: string; info: GlibcShimInfo } | undefined;
}

/** Options for {@link ensureChromaRuntime}. */
export interface EnsureChromaRuntimeOptions {
  /**
   * Cache root. Default: `$DUALWRITE_CACHE_DIR`, else `<workspace root>/.cache` (the nearest ancestor of this
   * module holding `pnpm-workspace.yaml`), else `~/.cache/dualwrite`. The shim lives in `<root>/glibc-trixie`.
   */
  cacheDir?: string;
  /**
   * Debian mirror base URL (e.g. `http://deb.debian.org/debian`). Default: `$DUALWRITE_DEBIAN_MIRROR`, else the
   * `URIs:` of the system's enabled Debian stanza in `/etc/apt/sources.list.d/*.sources` or
   * `/etc/apt/sources.list`.
   */
  mirror?: string;
  /**
   * Keyring apt verifies the trixie `InRelease` against. Default: `$DUALWRITE_DEBIAN_KEYRING`, else the system
   * Debian stanza's `Signed-By`, else `/usr/share/keyrings/debian-archive-keyring.gpg` (debian-archive-keyring
   * 2023.3+deb12u1 and later ship the trixie keys).
   */
  keyring?: string;
  /** Force the shim even when the system glibc is new enough (testing). Default `false`. */
  forceShim?: boolean;
  /** Progress messages (download/unpack). Default: silent. */
  log?: (message: string) => void;
}

/** Options for {@link startLocalChroma}. */
export interface StartLocalChromaOptions {
  /** Persistence directory. Default: a fresh temp dir, deleted by `stop()`. */
  path?: string;
  /** TCP port; `0`/`undefined` picks a free port. */
  port?: number;
  /** Listen address. Default `'127.0.0.1'`. */
  host?: string;
  /** How long to wait for `GET /api/v2/heartbeat` to answer, in ms (after the runtime is ready). Default 30,000. */
  timeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL in `stop()`, in ms. Default 5,000. */
  stopGraceMs?: number;
  /** Log file. Default `<path>/chroma-server.log` (appended). */
  logFile?: string;
  /**
   * Start the server in its own process group and let it outlive this process (used by
   * `scripts/chroma-server.mjs`). Default `false`: the server is sent SIGTERM when this process exits.
   */
  detached?: boolean;
  /** Passed to {@link ensureChromaRuntime}. */
  runtime?: EnsureChromaRuntimeOptions;
}

/** A running local Chroma server. */
export interface LocalChroma {
  /** Base URL, e.g. `http://127.0.0.1:45123`. */
  url: string;
  /** TCP port the server listens on. */
  port: number;
  /** Listen address. */
  host: string;
  /** Process id of the server (the loader or node process). */
  pid: number;
  /** Persistence directory. */
  path: string;
  /** Server log file. */
  logFile: string;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// glibc detection

/** glibc version of the running process (`'2.36'`), or `undefined` on non-glibc platforms (musl, macOS, ...). */
export function systemGlibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
    ?.header;
  return header?.glibcVersionRuntime;
}

/** `true` when `version` (`'2.36'`) is older than `minimum` (`'2.38'`). */
export function isOlderVersion(version: string, minimum: string): boolean {
  const a = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const b = minimum.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

/** `true` when the chroma binding cannot load with this process's glibc and the shim is needed. */
export function needsGlibcShim(): boolean {
  const glibc = systemGlibcVersion();
  return glibc !== undefined && isOlderVersion(glibc, MIN_GLIBC_FOR_BINDING);
}

// ---------------------------------------------------------------------------------------------------------
// paths

/** Default cache root (see {@link EnsureChromaRuntimeOptions.cacheDir}). */
export function defaultCacheDir(): string {
  if (process.env.DUALWRITE_CACHE_DIR) return resolve(process.env.DUALWRITE_CACHE_DIR);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (!dir.split(/[\\/]/).includes('node_modules') && existsSync(join(dir, 'pnpm-workspace.yaml')))
      return join(dir, '.cache');
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(process.env.HOME ?? tmpdir(), '.cache', 'dualwrite');
}

/** Directory of the installed `chromadb` package (resolved from this module). */
export function chromadbPackageDir(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('chromadb'));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'chromadb')
      return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('[dualwrite] [chroma] cannot locate the chromadb package directory');
    dir = parent;
  }
}

function chromaCliPath(): string {
  const dir = chromadbPackageDir();
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const cli = join(dir, pkg.bin?.chroma ?? 'dist/cli.mjs');
  if (!existsSync(cli)) throw new Error(`[dualwrite] [chroma] chroma CLI not found at ${cli}`);
  return cli;
}

// ---------------------------------------------------------------------------------------------------------
// apt sources

/** A Debian archive stanza found in the system's apt configuration. */
export interface DebianSource {
  uri: string;
  suites: string[];
  signedBy: string | undefined;
}

/** Parses deb822 (`*.sources`) and one-line (`*.list`) apt sources, returning `deb` entries. Exported for tests. */
export function parseAptSources(text: string, format: 'deb822' | 'list'): DebianSource[] {
  const out: DebianSource[] = [];
  if (format === 'list') {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (!m) continue;
      const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
      out.push({ uri: m[2]!, suites: [m[3]!], signedBy });
    }
    return out;
  }
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const raw of block.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last)} ${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (!m) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if (/^(no|false)$/i.test(fields.get('enabled') ?? 'yes')) continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    const signedBy = fields.get('signed-by');
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean))
      out.push({ uri, suites, signedBy: signedBy?.startsWith('/') ? signedBy : undefined });
  }
  return out;
}

/** The system's Debian main-archive mirror (not `-security`, not third-party), or `undefined`. */
export function systemDebianSource(): DebianSource | undefined {
  const candidates: DebianSource[] = [];
  const dir = '/etc/apt/sources.list.d';
  try {
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name);
      if (name.endsWith('.sources'))
        candidates.push(...parseAptSources(readFileSync(file, 'utf8'), 'deb822'));
      else if (name.endsWith('.list'))
        candidates.push(...parseAptSources(readFileSync(file, 'utf8'), 'list'));
    }
  } catch {
    // no sources.list.d
  }
  try {
    candidates.push(...parseAptSources(readFileSync('/etc/apt/sources.list', 'utf8'), 'list'));
  } catch {
    // no sources.list
  }
  const debianSuite =
    /^(buster|bullseye|bookworm|trixie|forky|sid|stable|testing|unstable|oldstable)(-updates|-backports)?$/;
  return candidates.find(
    (c) => !/security/.test(c.uri) && /\/debian\/?$/.test(c.uri) && c.suites.some((s) => debianSuite.test(s)),
  );
}

// ---------------------------------------------------------------------------------------------------------
// process helpers

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      args,
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 300_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
        resolvePromise({ code, stdout, stderr: stderr || (error && !stderr ? String(error.message) : '') });
      },
    );
  });
}

function commandExists(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((dir) => dir && existsSync(join(dir, cmd)));
}

// ---------------------------------------------------------------------------------------------------------
// glibc shim

function readShimInfo(dir: string): GlibcShimInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8')) as GlibcShimInfo;
  } catch {
    return undefined;
  }
}

function shimLibraryPath(dir: string, arch: ShimArch): string {
  return [join(dir, 'lib', arch.triplet), join(dir, 'usr', 'lib', arch.triplet)].join(':');
}

function shimLoader(dir: string, arch: ShimArch): string {
  for (const candidate of [
    join(dir, 'usr', 'lib', arch.triplet, arch.loader),
    join(dir, 'lib', arch.triplet, arch.loader),
    join(dir, 'lib64', arch.loader),
    join(dir, 'usr', 'lib64', arch.loader),
  ])
    if (existsSync(candidate)) return candidate;
  throw new Error(`[dualwrite] [chroma] glibc shim in ${dir} has no ${arch.loader}`);
}

/** Downloads + unpacks the trixie packages into `target` (atomically, via a temp dir and rename). */
async function buildGlibcShim(
  target: string,
  arch: ShimArch,
  options: EnsureChromaRuntimeOptions,
): Promise<void> {
  const log = options.log ?? (() => {});
  for (const tool of ['apt-get', 'dpkg', 'dpkg-deb'])
    if (!commandExists(tool))
      throw new Error(
        `[dualwrite] [chroma] the chroma server binding needs glibc >= ${MIN_GLIBC_FOR_BINDING} (this system has ${systemGlibcVersion()}); ` +
          `building the glibc shim needs '${tool}' (Debian/Ubuntu). Run Chroma elsewhere and set CHROMA_URL instead.`,
      );
  const source = systemDebianSource();
  const mirror = (options.mirror ?? process.env.DUALWRITE_DEBIAN_MIRROR ?? source?.uri)?.replace(/\/+$/, '');
  if (!mirror)
    throw new Error(
      '[dualwrite] [chroma] cannot find a Debian mirror in /etc/apt/sources.list{,.d}; set DUALWRITE_DEBIAN_MIRROR ' +
        '(e.g. http://deb.debian.org/debian) or set CHROMA_URL to use an existing server',
    );
  const keyring =
    options.keyring ?? process.env.DUALWRITE_DEBIAN_KEYRING ?? source?.signedBy ?? DEFAULT_KEYRING;
  if (!existsSync(keyring))
    throw new Error(`[dualwrite] [chroma] keyring ${keyring} not found; install debian-archive-keyring`);

  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const work = await mkdtemp(join(parent, '.glibc-shim-tmp-'));
  try {
    // apt drops privileges to `_apt` for downloads; let it traverse/write the download dir.
    await chmod(work, 0o755);
    const etc = join(work, 'apt', 'etc');
    const lists = join(work, 'apt', 'lists');
    const cache = join(work, 'apt', 'cache');
    const debs = join(work, 'debs');
    const root = join(work, 'root');
    for (const d of [
      join(etc, 'sources.list.d'),
      join(lists, 'partial'),
      join(cache, 'archives', 'partial'),
      debs,
      root,
    ])
      await mkdir(d, { recursive: true });
    await chmod(debs, 0o777);
    await writeFile(join(etc, 'sources.list'), '');
    await writeFile(
      join(etc, 'sources.list.d', `${GLIBC_SHIM_SUITE}.sources`),
      [
        'Types: deb',
        `URIs: ${mirror}`,
        `Suites: ${GLIBC_SHIM_SUITE}`,
        'Components: main',
        `Architectures: ${arch.debArch}`,
        `Signed-By: ${keyring}`,
        '',
      ].join('\n'),
    );
    const aptOptions = [
      '-o',
      `Dir::Etc::SourceList=${join(etc, 'sources.list')}`,
      '-o',
      `Dir::Etc::SourceParts=${join(etc, 'sources.list.d')}`,
      '-o',
      `Dir::State::Lists=${lists}`,
      '-o',
      `Dir::Cache=${cache}`,
      '-o',
      `APT::Architecture=${arch.debArch}`,
      '-o',
      'Acquire::Languages=none',
    ];
    log(`[chroma] apt-get update (${GLIBC_SHIM_SUITE}, ${mirror}) into a private apt state dir`);
    const update = await run('apt-get', [...aptOptions, '-q', 'update']);
    const updateOutput = `${update.stdout}\n${update.stderr}`;
    const listed = await readdir(lists);
    const inRelease = listed.some((f) => f.endsWith(`_dists_${GLIBC_SHIM_SUITE}_InRelease`));
    const packagesIndex = listed.some((f) =>
      f.includes(`_dists_${GLIBC_SHIM_SUITE}_main_binary-${arch.debArch}_Packages`),
    );
    if (
      update.code !== 0 ||
      !inRelease ||
      !packagesIndex ||
      /NO_PUBKEY|not signed|EXPKEYSIG/.test(updateOutput)
    ) {
      const keyHint = /NO_PUBKEY|not signed|EXPKEYSIG/.test(updateOutput)
        ? ` The keyring ${keyring} does not cover ${GLIBC_SHIM_SUITE}: upgrade debian-archive-keyring ` +
          '(bookworm ships the trixie keys since 2023.3+deb12u1) or point DUALWRITE_DEBIAN_KEYRING at a keyring ' +
          'holding the "Debian Archive Automatic Signing Key (13/trixie)". Never disable signature checks.'
        : '';
      throw new Error(
        `[dualwrite] [chroma] apt-get update for ${GLIBC_SHIM_SUITE} failed (exit ${update.code}).${keyHint}\n${updateOutput.trim()}`,
      );
    }
    log(`[chroma] apt-get download ${GLIBC_SHIM_PACKAGES.join(' ')}`);
    const download = await run('apt-get', [...aptOptions, '-q', 'download', ...GLIBC_SHIM_PACKAGES], {
      cwd: debs,
    });
    if (download.code !== 0)
      throw new Error(
        `[dualwrite] [chroma] apt-get download failed (exit ${download.code}):\n${download.stdout}\n${download.stderr}`,
      );
    const packages: Record<string, string> = {};
    for (const file of (await readdir(debs)).filter((f) => f.endsWith('.deb')).sort()) {
      const deb = join(debs, file);
      const fields = await run('dpkg-deb', ['-f', deb, 'Package', 'Version']);
      const name = /^Package:\s*(\S+)/m.exec(fields.stdout)?.[1];
      const version = /^Version:\s*(\S+)/m.exec(fields.stdout)?.[1];
      if (name && version) packages[name] = version;
      const extract = await run('dpkg', ['-x', deb, root]);
      if (extract.code !== 0)
        throw new Error(`[dualwrite] [chroma] dpkg -x ${file} failed: ${extract.stderr}`);
    }
    for (const p of GLIBC_SHIM_PACKAGES)
      if (!packages[p]) throw new Error(`[dualwrite] [chroma] apt-get download did not fetch ${p}`);

    // Sanity check: node must start under the new loader and load the chroma binding.
    const loader = shimLoader(root, arch);
    const probe = await run(loader, [
      '--library-path',
      shimLibraryPath(root, arch),
      process.execPath,
      '-e',
      `const r = require('node:module').createRequire(${JSON.stringify(join(chromadbPackageDir(), 'package.json'))});` +
        `r(${JSON.stringify(arch.binding)});` +
        'process.stdout.write(String(process.report.getReport().header.glibcVersionRuntime));',
    ]);
    if (probe.code !== 0 || !/^\d+\.\d+/.test(probe.stdout))
      throw new Error(
        `[dualwrite] [chroma] node could not load the chroma binding through the glibc shim:\n${probe.stderr || probe.stdout}`,
      );
    const info: GlibcShimInfo = {
      suite: GLIBC_SHIM_SUITE,
      arch: arch.debArch,
      mirror,
      packages,
      glibcVersion: probe.stdout.trim(),
      createdAt: new Date().toISOString(),
    };
    await writeFile(join(root, MARKER_FILE), `${JSON.stringify(info, null, 2)}\n`);
    try {
      await rename(root, target);
    } catch (error) {
      // Another process finished first: keep theirs.
      if (!readShimInfo(target)) throw error;
    }
    log(`[chroma] glibc shim ready in ${target} (glibc ${info.glibcVersion})`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

let pendingShim: Promise<void> | undefined;

/**
 * Resolves how to run the `chroma` CLI here, preparing the glibc shim when needed (idempotent: the unpacked
 * libraries are cached in `<cacheDir>/glibc-trixie` and reused; nothing is downloaded when the marker file
 * is present). Safe to call concurrently, also from several processes (the shim is built in a temp dir and
 * renamed into place).
 *
 * @returns the command + argument prefix; append `run --path DIR --host H --port P`.
 * @throws Error when the shim is needed but cannot be built (no apt/dpkg, no mirror, keyring missing the
 *   trixie keys, no network) — the message says how to use an existing server via `CHROMA_URL` instead.
 */
export async function ensureChromaRuntime(options: EnsureChromaRuntimeOptions = {}): Promise<ChromaRuntime> {
  const cliPath = chromaCliPath();
  const systemGlibc = systemGlibcVersion();
  const nodeArgs = [process.execPath, `--import=${SIGNAL_GUARD_URL}`, cliPath];
  if (!(options.forceShim || needsGlibcShim()))
    return { command: process.execPath, args: nodeArgs.slice(1), cliPath, systemGlibc, shim: undefined };
  const arch = SHIM_ARCHES[process.arch];
  if (!arch)
    throw new Error(
      `[dualwrite] [chroma] glibc ${systemGlibc} is older than ${MIN_GLIBC_FOR_BINDING} and no shim is known for ${process.arch}; set CHROMA_URL`,
    );
  const dir = join(options.cacheDir ?? defaultCacheDir(), `glibc-${GLIBC_SHIM_SUITE}`);
  if (!readShimInfo(dir)) {
    if (existsSync(dir)) await rm(dir, { recursive: true, force: true }); // half-built leftovers
    pendingShim ??= buildGlibcShim(dir, arch, options).finally(() => {
      pendingShim = undefined;
    });
    await pendingShim;
  }
  const info = readShimInfo(dir)!;
  const libraryPath = shimLibraryPath(dir, arch);
  return {
    command: shimLoader(dir, arch),
    args: ['--library-path', libraryPath, ...nodeArgs],
    cliPath,
    systemGlibc,
    shim: { dir, libraryPath, info },
  };
}

// ---------------------------------------------------------------------------------------------------------
// server

/** Asks the OS for a free TCP port on `host`. */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

function urlFor(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** `true` when nothing listens on `host:port` (a test bind succeeds). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen(port, host, () => server.close(() => resolvePromise(true)));
  });
}

/** `true` when `GET <url>/api/v2/heartbeat` answers 200 within `timeoutMs`. */
export async function chromaHeartbeat(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const response = await fetch(`${url.replace(/\/+$/, '')}/api/v2/heartbeat`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** `true` while a process with this pid exists (and may be signalled by us). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `true` while the process exists and is not a zombie (exited, waiting to be reaped by its parent). */
export function isProcessRunning(pid: number): boolean {
  return isProcessAlive(pid) && !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^\d+ \(.*\)/, ''));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Stops a process by pid: SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone (or after the
 * SIGKILL wait). Works for processes this process did not spawn (the `server:stop` script).
 */
export async function stopProcess(pid: number, graceMs = 5_000): Promise<void> {
  const gone = () => !isProcessRunning(pid);
  if (gone()) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (gone()) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline && !gone()) await sleep(50);
}

async function tail(file: string, bytes = 4_000): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strip ANSI colour codes from the server log
    return text.slice(-bytes).replace(/\u001b\[[0-9;]*m/g, '');
  } catch {
    return '';
  }
}

/**
 * Starts a local Chroma server (`chroma run`) and waits until `GET /api/v2/heartbeat` answers.
 *
 * Uses {@link ensureChromaRuntime} (glibc shim when needed; first call may download ~4 MB of .debs plus the
 * ~10 MB trixie package index). Server output goes to `<path>/chroma-server.log`. When `port` is 0/undefined
 * a free port is picked (retried if another process grabs it first).
 *
 * @throws Error when the server exits early or does not answer within `timeoutMs` (message includes the
 *   log tail).
 */
export async function startLocalChroma(options: StartLocalChromaOptions = {}): Promise<LocalChroma> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const graceMs = options.stopGraceMs ?? 5_000;
  const runtime = await ensureChromaRuntime(options.runtime);
  const ownsPath = options.path === undefined;
  const path = options.path ? resolve(options.path) : await mkdtemp(join(tmpdir(), 'dualwrite-chroma-'));
  await mkdir(path, { recursive: true });
  const logFile = options.logFile ? resolve(options.logFile) : join(path, 'chroma-server.log');
  await mkdir(dirname(logFile), { recursive: true });
  const autoPort = !options.port;

  // The server binds with SO_REUSEPORT semantics on some platforms, so a second server on a taken port may
  // "start" and share it; refuse up front instead.
  if (!autoPort && !(await isPortFree(options.port!, host)))
    throw new Error(`[dualwrite] [chroma] port ${options.port} on ${host} is already in use`);

  for (let attempt = 1; ; attempt++) {
    const port = autoPort ? await findFreePort(host) : options.port!;
    const url = urlFor(host, port);
    const logFd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        runtime.command,
        [...runtime.args, 'run', '--path', path, '--host', host, '--port', String(port)],
        {
          stdio: ['ignore', logFd, logFd],
          detached: options.detached ?? false,
          env: { ...process.env, NO_COLOR: '1' },
        },
      );
    } finally {
      closeSync(logFd);
    }
    const pid = child.pid;
    if (pid === undefined) throw new Error(`[dualwrite] [chroma] failed to spawn ${runtime.command}`);
    let exited = false;
    const exitedPromise = new Promise<void>((r) =>
      child.once('exit', () => {
        exited = true;
        r();
      }),
    );
    const onParentExit = () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    if (options.detached) child.unref();
    else process.once('exit', onParentExit);

    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        process.removeListener('exit', onParentExit);
        if (!exited) {
          if (options.detached) await stopProcess(pid, graceMs);
          else {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
            await exitedPromise;
            clearTimeout(timer);
          }
        }
        if (ownsPath) await rm(path, { recursive: true, force: true });
      })();
      return stopped;
    };

    const deadline = Date.now() + timeoutMs;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      if (await chromaHeartbeat(url, 1_000)) {
        ready = true;
        break;
      }
      await Promise.race([sleep(100), exitedPromise]);
    }
    if (ready && !exited) return { url, port, host, pid, path, logFile, stop };

    const logTail = await tail(logFile);
    if (exited && autoPort && attempt < 3 && /address already in use|AddrInUse/i.test(logTail)) {
      process.removeListener('exit', onParentExit);
      continue;
    }
    await stop();
    throw new Error(
      exited
        ? `[dualwrite] [chroma] chroma server exited before answering (log: ${logFile}):\n${logTail}`
        : `[dualwrite] [chroma] chroma server did not answer ${url}/api/v2/heartbeat within ${timeoutMs} ms (log: ${logFile}):\n${logTail}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// background server with a state file (scripts/chroma-server.mjs, `pnpm chroma:start` / `chroma:stop`)

/** What `start` records in the state file. */
export interface ChromaServerState {
  pid: number;
  port: number;
  host: string;
  url: string;
  path: string;
  logFile: string;
  startedAt: string;
}

/** Options of {@link startChromaDaemon}. */
export interface ChromaDaemonOptions {
  /** State file. Default `<cacheDir>/chroma-server.json`. */
  stateFile?: string;
  /** Data directory. Default `<cacheDir>/chroma-data` (kept between runs). */
  path?: string;
  /** Port. Default `$CHROMA_PORT` or 8000; `0` picks a free port. */
  port?: number;
  /** Listen address. Default `'127.0.0.1'`. */
  host?: string;
  /** Heartbeat wait in ms. Default 30,000. */
  timeoutMs?: number;
  /** Passed to {@link ensureChromaRuntime}. */
  runtime?: EnsureChromaRuntimeOptions;
}

/** Default state file of the background server. */
export function defaultStateFile(cacheDir: string = defaultCacheDir()): string {
  return join(cacheDir, 'chroma-server.json');
}

/** Reads a state file; `undefined` when missing or unreadable. */
export async function readChromaServerState(
  stateFile: string = defaultStateFile(),
): Promise<ChromaServerState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile, 'utf8')) as ChromaServerState;
  } catch {
    return undefined;
  }
}

/** `true` when `pid` still looks like the chroma server recorded in `state` (guards against pid reuse). */
function isRecordedServer(state: ChromaServerState): boolean {
  if (!isProcessRunning(state.pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8').split('\u0000');
    return cmdline.includes('run') && cmdline.includes(String(state.port));
  } catch {
    return true; // no /proc: trust the pid
  }
}

/**
 * How the running server `existing` differs from what `options` ask for explicitly (data directory, port other
 * than 0, host), or `undefined` when it is what they ask for.
 */
function otherServerAsked(existing: ChromaServerState, options: ChromaDaemonOptions): string | undefined {
  if (options.path !== undefined && resolve(options.path) !== resolve(existing.path))
    return `data ${existing.path}, not ${resolve(options.path)}`;
  if (options.port !== undefined && options.port !== 0 && options.port !== existing.port)
    return `port ${existing.port}, not ${options.port}`;
  if (options.host !== undefined && options.host !== existing.host)
    return `host ${existing.host}, not ${options.host}`;
  return undefined;
}

/**
 * Starts a detached Chroma server that outlives this process and records it in the state file. If the state
 * file points at a live server that answers its heartbeat, that server is reused — when it is the one asked for.
 * @returns the state and whether the server was already running.
 * @throws {Error} when the recorded server runs with another data directory, port or host than `options` name
 *   (another project's server: handing it out would mix their data).
 */
export async function startChromaDaemon(
  options: ChromaDaemonOptions = {},
): Promise<{ state: ChromaServerState; alreadyRunning: boolean }> {
  const cacheDir = options.runtime?.cacheDir ?? defaultCacheDir();
  const stateFile = options.stateFile ?? defaultStateFile(cacheDir);
  const existing = await readChromaServerState(stateFile);
  if (existing && isRecordedServer(existing) && (await chromaHeartbeat(existing.url))) {
    const other = otherServerAsked(existing, options);
    if (other !== undefined)
      throw new Error(
        `the Chroma server recorded in ${stateFile} runs with ${other}; stop it first (dualwrite-chroma stop), ` +
          'or give this one a state file of its own (--state FILE)',
      );
    return { state: existing, alreadyRunning: true };
  }
  const envPort = process.env.CHROMA_PORT ? Number.parseInt(process.env.CHROMA_PORT, 10) : undefined;
  const server = await startLocalChroma({
    path: options.path ?? join(cacheDir, 'chroma-data'),
    port: options.port ?? envPort ?? 8000,
    host: options.host,
    timeoutMs: options.timeoutMs,
    detached: true,
    runtime: options.runtime,
  });
  const state: ChromaServerState = {
    pid: server.pid,
    port: server.port,
    host: server.host,
    url: server.url,
    path: server.path,
    logFile: server.logFile,
    startedAt: new Date().toISOString(),
  };
  await mkdir(dirname(stateFile), { recursive: true });
  await writeFile(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  return { state, alreadyRunning: false };
}

/**
 * Stops the server recorded in the state file (SIGTERM, SIGKILL after `graceMs`) and removes the file.
 * @returns the state that was stopped, or `undefined` when nothing was running.
 */
export async function stopChromaDaemon(
  options: { stateFile?: string; graceMs?: number } = {},
): Promise<ChromaServerState | undefined> {
  const stateFile = options.stateFile ?? defaultStateFile();
  const state = await readChromaServerState(stateFile);
  if (!state) return undefined;
  const running = isRecordedServer(state);
  if (running) await stopProcess(state.pid, options.graceMs ?? 5_000);
  await rm(stateFile, { force: true });
  return running ? state : undefined;
}

/** The CLI's flags (node's own parser: an unknown flag or a flag without its value is refused). */
function parseCliArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: 'string' },
      path: { type: 'string' },
      host: { type: 'string' },
      timeout: { type: 'string' },
      state: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
}

/** This package's version (its package.json, one directory above `src/` and `dist/`; not found from a transpiled copy). */
function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return 'unknown (run from a transpiled copy of the source)';
  }
}

/**
 * Implements `chroma-server.mjs` / `dualwrite-chroma`:
 *
 * - `start [--port N] [--path DIR] [--host H] [--timeout MS]`: start (or reuse) the background server; prints
 *   the URL on stdout (so `export CHROMA_URL=$(pnpm -s chroma:start)` works), details on stderr.
 * - `stop`: stop it.
 * - `status`: print the URL if running (exit 0), else exit 1.
 * - `prepare`: only prepare the runtime (download/unpack the glibc shim when needed); for CI cache warming.
 *
 * `--state FILE` (start/stop/status) overrides the state file (default `<cache>/chroma-server.json`); `--help`
 * and `--version` print and exit 0; an unknown command or flag exits 2 with the usage.
 *
 * @returns the process exit code.
 */
export async function runChromaServerCli(
  argv: readonly string[],
  io: { out: (line: string) => void; err: (line: string) => void } = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  },
): Promise<number> {
  const usage =
    'usage: dualwrite-chroma <start [--port N] [--path DIR] [--host H] [--timeout MS] | stop | status | prepare> ' +
    '[--state FILE]\n  start prints the URL on stdout; --help, --version';
  let parsed: ReturnType<typeof parseCliArgs>;
  try {
    // `pnpm chroma:start -- --port 0` may forward the separator
    parsed = parseCliArgs(argv.filter((arg) => arg !== '--'));
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(usage);
    return 0;
  }
  if (values.version) {
    io.out(packageVersion());
    return 0;
  }
  const [command, ...extra] = positionals;
  if (extra.length > 0) {
    io.err(`unexpected argument: ${extra[0]}\n${usage}`);
    return 2;
  }
  const flags = new Map(
    Object.entries(values).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
  const num = (name: string): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
    return n;
  };
  try {
    switch (command) {
      case 'prepare': {
        const runtime = await ensureChromaRuntime({ log: io.err });
        io.err(
          runtime.shim
            ? `chroma runtime ready: glibc ${runtime.systemGlibc} < ${MIN_GLIBC_FOR_BINDING}, using ${runtime.shim.dir} (glibc ${runtime.shim.info.glibcVersion})`
            : `chroma runtime ready: system glibc ${runtime.systemGlibc ?? 'n/a'} needs no shim`,
        );
        return 0;
      }
      case 'start': {
        const { state, alreadyRunning } = await startChromaDaemon({
          stateFile: flags.get('state'),
          port: num('port'),
          path: flags.get('path'),
          host: flags.get('host'),
          timeoutMs: num('timeout'),
          runtime: { log: io.err },
        });
        io.err(
          `${alreadyRunning ? 'chroma already running' : 'chroma started'} at ${state.url} (pid ${state.pid}, data ${state.path}, log ${state.logFile})`,
        );
        io.out(state.url);
        return 0;
      }
      case 'stop': {
        const state = await stopChromaDaemon({ stateFile: flags.get('state') });
        io.err(state ? `chroma stopped (pid ${state.pid}, ${state.url})` : 'chroma was not running');
        return 0;
      }
      case 'status': {
        const state = await readChromaServerState(flags.get('state'));
        if (state && isRecordedServer(state) && (await chromaHeartbeat(state.url))) {
          io.out(state.url);
          return 0;
        }
        io.err('chroma is not running');
        return 1;
      }
      default:
        io.err(command === undefined ? usage : `unknown command: ${command}\n${usage}`);
        return 2;
    }
  } catch (error) {
    io.err(error instanceof Error ? error.message : String(error));
    return 1;
  }
}
