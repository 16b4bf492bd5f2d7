#!/usr/bin/env node
/**
 * `dualwrite-worker`: a standalone drain worker. See `dualwrite-worker --help` and {@link runCli}.
 * @packageDocumentation
 */
import { runCli } from './run-cli.js';

// Exit explicitly: `DualWrite.close()` leaves its shutdown-timeout timer running (core races the drain loops
// against an un-cancelled sleep), which would keep the process alive for up to --shutdown-timeout-ms.
process.exit(await runCli(process.argv, process.env));
