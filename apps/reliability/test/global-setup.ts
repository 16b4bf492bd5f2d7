/**
 * Starts one real local Chroma server for the whole run (data in a temp dir, stopped afterwards). Set
 * CHROMA_URL to use an existing server instead. Tests that stop and restart a server start their own.
 */
import { type LocalChroma, startLocalChroma } from '@dualwrite/chroma/local-server';
import type { TestProject } from 'vitest/node';

let server: LocalChroma | undefined;

export async function setup(project: TestProject): Promise<void> {
  const external = process.env.CHROMA_URL;
  if (external) {
    project.provide('chromaUrl', external.replace(/\/+$/, ''));
    return;
  }
  server = await startLocalChroma({ timeoutMs: 60_000 });
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
