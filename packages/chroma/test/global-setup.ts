/**
 * Starts one local Chroma server (real Chroma 1.x via the chromadb CLI, glibc shim when needed) for the whole
 * test run, on a free port with data in a temp dir, and stops it afterwards. Set CHROMA_URL to test against
 * an existing server instead (tests that stop/restart a server then start their own).
 */
import type { TestProject } from 'vitest/node';
import { type LocalChroma, startLocalChroma } from '../src/chroma-local-server.js';

let server: LocalChroma | undefined;

export async function setup(project: TestProject): Promise<void> {
  const external = process.env.CHROMA_URL;
  if (external) {
    project.provide('chromaUrl', external.replace(/\/+$/, ''));
    return;
  }
  const started = Date.now();
  server = await startLocalChroma({ timeoutMs: 60_000, runtime: { log: (m) => console.log(m) } });
  console.log(`[chroma tests] server ${server.url} (pid ${server.pid}) ready in ${Date.now() - started} ms`);
  project.provide('chromaUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  server = undefined;
}

declare module 'vitest' {
  export interface ProvidedContext {
    chromaUrl: string;
  }
}
