import type { CopyOptions, CopyResult } from '../copy/types.js';
import type { Digest } from '../digest/index.js';
import type { InspectResult } from '../inspect/types.js';
import type { SyncOptions, SyncResult } from '../sync/index.js';
import type { Platform } from '../oci/types.js';
import type { RegistryAccess } from '../transports/docker/access.js';
import type { ImageReference, Logger } from '../transports/types.js';
import type { FlagSpec, ParsedArgs } from './args.js';

/** What the CLI writes to: process.stdout/stderr in the bin, buffers in tests. */
export interface OutStream {
  write(chunk: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** What the CLI reads from: process.stdin in the bin (login --password-stdin and password prompts). */
export interface InStream {
  isTTY?: boolean;
  /** A TTY's raw mode, so a password is read without echo. */
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** Everything the CLI takes from the process, handed in so that commands run the same in tests. */
export interface CliIO {
  stdout: OutStream;
  stderr: OutStream;
  /** Absent in tests that need no input: reading it is then an error that says so. */
  stdin?: InStream;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** The user id, for /run/containers/UID/auth.json when XDG_RUNTIME_DIR is unset. */
  uid?: number;
  /** Aborted on Ctrl-C by the bin. */
  signal?: AbortSignal;
  /** Milliseconds clock, for ages in tables and progress rates. */
  now?: () => number;
}

export interface InspectCallOptions {
  platform?: Platform;
  signal?: AbortSignal;
  tmpDir?: string;
  /** Credentials, TLS and registries.conf for docker:// references. */
  registry?: RegistryAccess;
  /** Do not list the repository's tags (RepoTags stays empty). */
  noTags?: boolean;
  logger?: Logger;
}

/** The library functions the CLI calls (exported from src/index.ts); injected so the CLI is testable alone. */
export interface CliLibrary {
  readonly VERSION: string;
  parseReference(ref: string): ImageReference;
  inspect(ref: ImageReference | string, opts?: InspectCallOptions): Promise<InspectResult>;
  copy(src: ImageReference | string, dest: ImageReference | string, opts?: CopyOptions): Promise<CopyResult>;
  manifestDigest(bytes: Buffer): Digest;
  /** `wharf sync`; when absent, the library's own sync() is used (tests inject a fake here). */
  sync?(options: SyncOptions): Promise<SyncResult>;
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
