/**
 * `@dualwrite/chroma/local-server`: starts and stops a local Chroma 1.x server for tests, benchmarks and
 * development ({@link startLocalChroma}, a detached daemon, the glibc side-load it needs on Debian 12).
 * Not needed to use `ChromaVectorStore` against a server you run yourself.
 *
 * @packageDocumentation
 */
export {
  type ChromaDaemonOptions,
  type ChromaRuntime,
  type ChromaServerState,
  chromaHeartbeat,
  type DebianSource,
  defaultCacheDir,
  defaultStateFile,
  type EnsureChromaRuntimeOptions,
  ensureChromaRuntime,
  findFreePort,
  GLIBC_SHIM_PACKAGES,
  GLIBC_SHIM_SUITE,
  type GlibcShimInfo,
  isOlderVersion,
  isPortFree,
  isProcessAlive,
  isProcessRunning,
  type LocalChroma,
  MIN_GLIBC_FOR_BINDING,
  needsGlibcShim,
  parseAptSources,
  readChromaServerState,
  runChromaServerCli,
  type StartLocalChromaOptions,
  startChromaDaemon,
  startLocalChroma,
  stopChromaDaemon,
  stopProcess,
  systemDebianSource,
  systemGlibcVersion,
} from './chroma-local-server.js';
