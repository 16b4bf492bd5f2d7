import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const out = mkdtempSync(join(tmpdir(), 'bench-embed-drain-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// Plumbing only (no timing assertions): both drains ran to an empty outbox and are reported.
describe('embed-drain command', () => {
  it('drains the same puts with and without the caller’s embeddings and writes both times', async () => {
    await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=source',
        'src/embed-drain-cli.ts',
        '--relational',
        'sqlite',
        '--records',
        '40',
        '--rounds',
        '1',
        '--out',
        out,
      ],
      { cwd: join(import.meta.dirname, '..'), timeout: 120_000 },
    );
    const { results } = JSON.parse(readFileSync(join(out, 'embed-drain.json'), 'utf8')) as {
      results: { relational: string; callerEmbeddingsMs: number; embeddedOnDeliveryMs: number }[];
    };
    expect(results.map((r) => r.relational)).toEqual(['sqlite']);
    expect(results[0]!.callerEmbeddingsMs).toBeGreaterThan(0);
    expect(results[0]!.embeddedOnDeliveryMs).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'embed-drain.md'), 'utf8')).toMatch(/\| sqlite \| \d+ \| \d+ \|/);
  });
});
