#!/usr/bin/env node
/**
 * `dualwrite-chroma` binary: `start | stop | status | prepare` for a background local Chroma server
 * (see {@link runChromaServerCli}).
 * @packageDocumentation
 */
import { runChromaServerCli } from './chroma-local-server.js';

process.exitCode = await runChromaServerCli(process.argv.slice(2));
