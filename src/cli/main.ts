#!/usr/bin/env node
/**
 * The `wharf` bin: the only place that touches the process. It wires stdout/stderr, env, cwd and Ctrl-C into
 * run() and exits with its code once the output is flushed.
 *
 * Ctrl-C (SIGINT) or SIGTERM aborts the running operation through an AbortSignal; the command then exits with
 * 130 (143 for SIGTERM) after the library has cleaned up. A second signal exits at once.
 */
import { setMaxListeners } from 'node:events';
import { WharfError } from '../errors.js';
import * as library from '../index.js';
import { run } from './app.js';
import { ExitCode } from './exit-codes.js';
import type { CliIO, CliLibrary } from './types.js';

const lib: CliLibrary = library;

const controller = new AbortController();
// Every request of a long copy or sync listens to this signal: many listeners are expected.
setMaxListeners(0, controller.signal);
let received: NodeJS.Signals | undefined;

function onSignal(name: NodeJS.Signals): void {
  const code = name === 'SIGTERM' ? ExitCode.TERMINATED : ExitCode.INTERRUPTED;
  if (received) {
    process.stderr.write('\nwharf: interrupted again, exiting now\n');
    process.exit(code);
  }
  received = name;
  controller.abort(new WharfError('ABORTED', `interrupted by ${name}`));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// `wharf inspect … | head` closes the pipe early: that is not an error worth a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const io: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  // Only touched by the commands that read input (login): opening process.stdin has side effects on a terminal.
  get stdin() {
    return process.stdin;
  },
  env: process.env,
  cwd: process.cwd(),
  uid: process.getuid?.(),
  signal: controller.signal,
};
const code = await run(process.argv.slice(2), io, lib);
const exit = received === 'SIGTERM' && code === ExitCode.INTERRUPTED ? ExitCode.TERMINATED : code;
process.exitCode = exit;
// Exit once both streams are flushed, even if a handle was left open somewhere.
process.stdout.write('', () => process.stderr.write('', () => process.exit(exit)));
