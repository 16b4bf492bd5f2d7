/**
 * Child process of `--backlog` (see `runs/backlog-process.ts`): receives one {@link BacklogRequest} over
 * IPC, runs the measurement, reports progress and the result, and exits.
 * @packageDocumentation
 */
import { createRelationalBackend, createVectorBackend } from './backends/create-backends.js';
import { runBacklog } from './runs/backlog.js';
import type { BacklogMessage, BacklogRequest } from './runs/backlog-process.js';

const send = (message: BacklogMessage) =>
  new Promise<void>((resolve) => {
    process.send?.(message, undefined, {}, () => resolve());
  });

process.once('message', async (request: BacklogRequest) => {
  try {
    const vector = await createVectorBackend(request.vector, {
      workDir: request.workDir,
      chromaUrl: request.chromaUrl,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    try {
      const relational = await createRelationalBackend(request.relational, {
        workDir: request.workDir,
        databaseUrl: request.databaseUrl,
        mysqlUrl: request.mysqlUrl,
      });
      try {
        const result = await runBacklog({
          ...request,
          vector,
          relational,
          onProgress: (records) => void send({ type: 'progress', records }),
        });
        await send({ type: 'result', result });
      } finally {
        await relational.shutdown();
      }
    } finally {
      await vector.shutdown();
    }
  } catch (error) {
    await send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  }
  process.exit(0);
});
