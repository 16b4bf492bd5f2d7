/**
 * The real process (`tsx src/main.ts`): SIGTERM drains the outbox and exits 0; what cannot drain in time
 * stays in the outbox and is delivered after the next start; a bad config or an unreachable database exits
 * non-zero naming the key.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, PKG_DIR, SERVICE_ARGS, spawnService, summary, tempDir } from './helpers.js';

describe('the service process', () => {
  let temp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    temp = await tempDir('demo-api-proc-');
  });
  afterAll(async () => {
    await temp?.remove();
  });

  it('drains on SIGTERM, keeps what could not drain, and finishes it after a restart', async () => {
    const env = {
      DUALWRITE_DATA_DIR: temp.dir,
      DUALWRITE_STRATEGY: 'batch',
      DUALWRITE_DRAIN_TIMEOUT_MS: '1500',
    };

    // 1. Write 40 summaries and SIGTERM right away: the outbox drains before exit.
    let svc = await spawnService(env);
    let request = client(svc.url);
    const batch = Array.from({ length: 40 }, (_, i) =>
      summary(`proc.mod${i}.fn`, `function number ${i} computes things`),
    );
    expect((await request('POST', '/summaries', { summaries: batch })).status).toBe(201);
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(svc.lines.join('\n')).toContain('outbox drained, stores closed');

    // 2. Pause delivery, write 5 more, SIGTERM: a paused service does not drain (nor wait out a drain budget of a
    //    minute); exit 0, 5 stay in the outbox.
    svc = await spawnService({ ...env, DUALWRITE_DRAIN_TIMEOUT_MS: '60000' });
    request = client(svc.url);
    let status = (await request('GET', '/sync/status')).body;
    expect(status).toMatchObject({ outboxDepth: 0, summaries: 40 });
    expect((await request('POST', '/sync/pause')).status).toBe(200);
    const late = Array.from({ length: 5 }, (_, i) =>
      summary(`proc.late${i}`, `late write ${i} about parsing`),
    );
    expect((await request('POST', '/summaries', { summaries: late })).status).toBe(201);
    const stoppedAt = Date.now();
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(Date.now() - stoppedAt, 'waited out the drain budget while paused').toBeLessThan(30_000);
    expect(svc.lines.join('\n')).toContain('delivery is paused, so the outbox is not drained');
    expect(svc.lines.join('\n')).toContain('5 change(s) left in the outbox');

    // 3. Restart: the leftovers are delivered; nothing was lost.
    svc = await spawnService(env);
    request = client(svc.url);
    expect((await request('POST', '/sync/flush')).body).toMatchObject({ pending: 0, deadLetters: 0 });
    status = (await request('GET', '/sync/status')).body;
    expect(status).toMatchObject({ outboxDepth: 0, summaries: 45 });
    const hits = (await request('POST', '/search', { text: 'late write 3 about parsing', k: 1 })).body.hits;
    expect(hits[0].targetFqn).toBe('proc.late3');
    expect((await request('POST', '/sync/reconcile', { dryRun: true })).body).toMatchObject({
      checkedRecords: 45,
      checkedVectors: 45,
      missing: 0,
      stale: 0,
      orphans: 0,
    });
    svc.child.kill('SIGINT');
    expect(await svc.exited).toBe(0);
  });

  /** Runs the service to its exit (a start that fails) with `env` over the test's data directory. */
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, SERVICE_ARGS, {
      cwd: PKG_DIR,
      env: { ...process.env, DUALWRITE_DATA_DIR: temp.dir, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('exits non-zero with a message naming the bad config key or the unreachable backend', () => {
    let r = run({ DUALWRITE_STRATEGY: 'eventually' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('strategy.name (from env DUALWRITE_STRATEGY)');
    // PostgreSQL that cannot be reached: exit 1 naming the key, without the password.
    r = run({
      DUALWRITE_RELATIONAL: 'postgres',
      DATABASE_URL: 'postgres://postgres:s3cret@127.0.0.1:1/test',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('[demo-api] cannot start: cannot connect to PostgreSQL at 127.0.0.1:1/test');
    expect(r.stderr).toContain('relational.url (DATABASE_URL)');
    expect(r.stderr).not.toContain('s3cret');
  });

  it('a port in use or a host not on this machine exits 1 naming PORT or HOST', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      let r = run({ PORT: String(port), HOST: '127.0.0.1' });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(`[demo-api] cannot start: port ${port} on 127.0.0.1 is in use`);
      expect(r.stderr).toContain('set PORT (server.port)');
      r = run({ PORT: '0', HOST: '192.0.2.1' }); // TEST-NET-1: never an address of this machine
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain('host 192.0.2.1 is not an address of this machine');
    } finally {
      taken.close();
    }
  });
});
