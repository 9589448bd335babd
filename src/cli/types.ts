import type { CopyOptions, CopyResult } from '../copy/types.js';
import type { Digest } from '../digest/index.js';
import type { InspectResult } from '../inspect/types.js';
import type { Platform } from '../oci/types.js';
import type { ImageReference, Logger } from '../transports/types.js';
import type { FlagSpec, ParsedArgs } from './args.js';

/** What the CLI writes to: process.stdout/stderr in the bin, buffers in tests. */
export interface OutStream {
  write(chunk: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Everything the CLI takes from the process, handed in so that commands run the same in tests. */
export interface CliIO {
  stdout: OutStream;
  stderr: OutStream;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Aborted on Ctrl-C by the bin. */
  signal?: AbortSignal;
  /** Milliseconds clock, for ages in tables and progress rates. */
  now?: () => number;
}

export interface InspectCallOptions {
  platform?: Platform;
  signal?: AbortSignal;
  tmpDir?: string;
}

/** The library functions the CLI calls (exported from src/index.ts); injected so the CLI is testable alone. */
export interface CliLibrary {
  readonly VERSION: string;
  parseReference(ref: string): ImageReference;
  inspect(ref: ImageReference | string, opts?: InspectCallOptions): Promise<InspectResult>;
  copy(src: ImageReference | string, dest: ImageReference | string, opts?: CopyOptions): Promise<CopyResult>;
  manifestDigest(bytes: Buffer): Digest;
}

/** What a command's run() gets. */
export interface CommandContext {
  args: ParsedArgs;
  io: CliIO;
  lib: CliLibrary;
  signal: AbortSignal;
  /** Absolute --tmpdir, when given. */
  tmpDir: string | undefined;
  debug: boolean;
  /** Warnings and debug messages for library calls (Context.logger). */
  logger: Logger;
  now: () => number;
}

export interface Command {
  name: string;
  /** One line for `wharf --help`. */
  summary: string;
  /** After `wharf NAME`, e.g. `[flags] SOURCE DESTINATION`. */
  usage: string;
  /** Paragraphs for `wharf NAME --help`. */
  description: string;
  flags: FlagSpec[];
  /** Operand count, checked before run(). */
  operands: { min: number; max: number; names: string };
  examples: string[];
  /** Whether its operands are image references (the help then lists the reference forms). */
  takesReferences: boolean;
  /** Returns the exit code. */
  run(ctx: CommandContext): Promise<number>;
}
