/**
 * The local server launcher: glibc detection, apt source parsing, the runtime cache, start/stop, and the
 * `scripts/chroma-server.mjs` start/status/stop cycle.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  chromaHeartbeat,
  ensureChromaRuntime,
  isOlderVersion,
  isProcessRunning,
  MIN_GLIBC_FOR_BINDING,
  needsGlibcShim,
  parseAptSources,
  startLocalChroma,
  systemGlibcVersion,
} from '../src/chroma-local-server.js';

const exec = promisify(execFile);
const script = join(import.meta.dirname, '..', 'scripts', 'chroma-server.mjs');

describe('helpers', () => {
  it('compares versions', () => {
    expect(isOlderVersion('2.36', '2.38')).toBe(true);
    expect(isOlderVersion('2.38', '2.38')).toBe(false);
    expect(isOlderVersion('2.41', '2.38')).toBe(false);
    expect(isOlderVersion('3.0', '2.38')).toBe(false);
    expect(isOlderVersion('2.9', '2.38')).toBe(true);
  });

  it('parses deb822 and one-line apt sources', () => {
    const deb822 = [
      'Types: deb',
      '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      '',
      'Types: deb-src',
      'URIs: http://src.example/debian',
      'Suites: bookworm',
      '',
      'Enabled: no',
      'Types: deb',
      'URIs: http://disabled.example/debian',
      'Suites: bookworm',
    ].join('\n');
    expect(parseAptSources(deb822, 'deb822')).toStrictEqual([
      {
        uri: 'http://deb.debian.org/debian',
        suites: ['bookworm', 'bookworm-updates'],
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      },
      { uri: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'], signedBy: undefined },
    ]);
    const list = [
      '# comment',
      'deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main',
      'deb-src http://mirror.example/debian bookworm main',
      'deb https://packages.cloud.google.com/apt cloud-sdk main',
    ].join('\n');
    expect(parseAptSources(list, 'list')).toStrictEqual([
      { uri: 'http://mirror.example/debian', suites: ['bookworm'], signedBy: '/k.gpg' },
      { uri: 'https://packages.cloud.google.com/apt', suites: ['cloud-sdk'], signedBy: undefined },
    ]);
  });
});

describe('runtime', () => {
  it('uses the glibc shim exactly when glibc is older than 2.38, and caches it', async () => {
    const glibc = systemGlibcVersion();
    const runtime = await ensureChromaRuntime();
    expect(runtime.systemGlibc).toBe(glibc);
    expect(runtime.shim !== undefined).toBe(needsGlibcShim());
    if (runtime.shim) {
      expect(isOlderVersion(runtime.shim.info.glibcVersion, MIN_GLIBC_FOR_BINDING)).toBe(false);
      expect(Object.keys(runtime.shim.info.packages).sort()).toStrictEqual([
        'libc6',
        'libgcc-s1',
        'libstdc++6',
      ]);
      expect(
        runtime.command.endsWith('ld-linux-x86-64.so.2') || runtime.command.endsWith('ld-linux-aarch64.so.1'),
      ).toBe(true);
      expect(runtime.args).toContain('--library-path');
    }
    const started = Date.now();
    const again = await ensureChromaRuntime();
    expect(Date.now() - started, 'cached: no download the second time').toBeLessThan(2_000);
    expect(again.command).toBe(runtime.command);
  });

  it('starts on a free port, answers the heartbeat, stops on SIGTERM without needing SIGKILL', async () => {
    const server = await startLocalChroma({ stopGraceMs: 20_000 });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(await chromaHeartbeat(server.url)).toBe(true);
    expect(existsSync(server.logFile)).toBe(true);
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started, 'graceful SIGTERM exit').toBeLessThan(10_000);
    expect(isProcessRunning(server.pid)).toBe(false);
    expect(existsSync(server.path), 'the temp data dir is removed').toBe(false);
    await server.stop(); // idempotent
    expect(await chromaHeartbeat(server.url, 500)).toBe(false);
  });

  it('refuses a port that is already taken', async () => {
    const first = await startLocalChroma();
    try {
      await expect(startLocalChroma({ port: first.port, timeoutMs: 15_000 })).rejects.toThrow(
        /already in use/,
      );
    } finally {
      await first.stop();
    }
  });
});

describe('scripts/chroma-server.mjs', () => {
  it('start → status → start (reuse) → stop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dualwrite-chroma-script-'));
    const state = join(dir, 'state.json');
    const run = (...args: string[]) =>
      exec(process.execPath, [script, ...args, '--state', state], { timeout: 60_000 });
    try {
      const start = await run('start', '--port', '0', '--path', join(dir, 'data'));
      const url = start.stdout.trim();
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await chromaHeartbeat(url)).toBe(true);
      const recorded = JSON.parse(await readFile(state, 'utf8')) as { pid: number; url: string };
      expect(recorded.url).toBe(url);
      expect((await run('status')).stdout.trim()).toBe(url);
      const again = await run('start', '--port', '0', '--path', join(dir, 'data'));
      expect(again.stdout.trim()).toBe(url);
      expect(again.stderr).toMatch(/already running/);
      // Another project's data directory is not handed this server (its URL on stdout would mix their data).
      const other = await run('start', '--port', '0', '--path', join(dir, 'other-data')).then(
        () => undefined,
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(other, 'start with another data directory must fail').toBeDefined();
      expect(other!.code).toBe(1);
      expect(other!.stdout).toBe('');
      expect(other!.stderr).toContain(`runs with data ${join(dir, 'data')}`);
      await run('stop');
      expect(isProcessRunning(recorded.pid)).toBe(false);
      expect(existsSync(state)).toBe(false);
      await expect(run('status')).rejects.toMatchObject({ code: 1 });
    } finally {
      await exec(process.execPath, [script, 'stop', '--state', state]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('--help and --version exit 0; an unknown command or flag exits 2 with the usage', async () => {
    const cli = (...args: string[]) =>
      exec(process.execPath, [script, ...args], { timeout: 60_000 }).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: dualwrite-chroma/);
    expect((await cli('--version')).code).toBe(0);
    for (const args of [['start', '--prot', '0'], ['restart'], ['start', '--port']]) {
      const refused = await cli(...args);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr, args.join(' ')).toMatch(/usage: dualwrite-chroma/);
    }
  });
});
