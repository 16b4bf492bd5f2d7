#!/usr/bin/env node
/**
 * `dualwrite`: the operator CLI (`worker`, `status`, `reconcile`, `dead-letters`, `verify`). See
 * `dualwrite --help` and {@link runOperatorCli}.
 * @packageDocumentation
 */
import { runOperatorCli } from './operator-cli.js';

// Exit explicitly, as dualwrite-worker does: a closed facade may leave a shutdown timer running.
process.exit(
  await runOperatorCli(process.argv, process.env, {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
  }),
);
