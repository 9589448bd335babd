import { run } from '../../src/cli/app.js';
import type { CliIO, CliLibrary } from '../../src/cli/types.js';
import * as library from '../../src/index.js';
import { Sink } from './sink.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  /** The command's working directory (default: this process's). */
  cwd?: string;
  /** Its environment (default: empty, so nothing of the machine's leaks in). */
  env?: Record<string, string>;
  /** The library it calls (default: the real one). */
  lib?: CliLibrary;
  uid?: number;
  now?: () => number;
}

/** The `wharf` command in this process, as main.ts runs it, with its output captured. */
export async function runCli(argv: string[], options: RunCliOptions = {}): Promise<CliRun> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CliIO = {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.now ? { now: options.now } : {}),
  };
  const code = await run(argv, io, options.lib ?? library);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
