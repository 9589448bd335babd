/**
 * The `wharf` command without the process: parse argv, dispatch to a command, turn errors into messages and exit
 * codes. The bin (main.ts) hands in process streams, env, cwd, a Ctrl-C signal and the library; tests hand in fakes.
 */
import { resolve } from 'node:path';
import { WharfError } from '../errors.js';
import { parseArgs, suggest, usageError } from './args.js';
import type { ParsedArgs } from './args.js';
import { copyCommand } from './commands/copy.js';
import { dbCommand } from './commands/db.js';
import { deleteCommand } from './commands/delete.js';
import { extractCommand } from './commands/extract.js';
import { diffCommand } from './commands/diff.js';
import { historyCommand } from './commands/history.js';
import { inspectCommand } from './commands/inspect.js';
import { layersCommand } from './commands/layers.js';
import { repackCommand } from './commands/repack.js';
import { scanCommand } from './commands/scan.js';
import { sbomCommand } from './commands/sbom.js';
import { listTagsCommand } from './commands/list-tags.js';
import { loginCommand, logoutCommand } from './commands/login.js';
import { manifestDigestCommand } from './commands/manifest-digest.js';
import { registryCommand, serveCommand } from './commands/serve.js';
import { syncCommand } from './commands/sync.js';
import { unpackCommand } from './commands/unpack.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { sanitizeForTerminal } from './format.js';
import { GLOBAL_FLAGS, commandHelp, mainHelp } from './help.js';
import type { CliIO, CliLibrary, Command } from './types.js';

export const COMMANDS: readonly Command[] = [
  copyCommand,
  inspectCommand,
  historyCommand,
  listTagsCommand,
  deleteCommand,
  loginCommand,
  logoutCommand,
  syncCommand,
  manifestDigestCommand,
  unpackCommand,
  repackCommand,
  extractCommand,
  diffCommand,
  layersCommand,
  scanCommand,
  sbomCommand,
  serveCommand,
  registryCommand,
  dbCommand,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** For an unknown flag before the command: say which command has it. */
function flagOfCommand(name: string): string | undefined {
  const owners = COMMANDS.filter((c) => c.flags.some((f) => f.name === name || f.short === name));
  if (owners.length === 0) return undefined;
  const dash = name.length === 1 ? '-' : '--';
  const names = owners.map((c) => `'wharf ${c.name}'`);
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return `${dash}${name} is a flag of ${list}: put it after the command`;
}

/** Whether argv asks for JSON errors, looked up before parsing so that usage errors honour it too. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--json' || a === '--json=true');
}

interface ErrorReport {
  code: string;
  message: string;
  hint?: string;
}

function describe(err: unknown, interrupted: boolean): ErrorReport {
  if (interrupted) return { code: 'ABORTED', message: 'interrupted', hint: 'nothing was left half-written at the destination' };
  if (err instanceof WharfError) return { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  if ((err as { name?: unknown })?.name === 'AbortError') return { code: 'ABORTED', message: 'interrupted' };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', message: `internal error: ${message}`, hint: 'this is a bug in wharf: rerun with --debug and report the output' };
}

function stackOf(err: unknown): string {
  let out = '';
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const s = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
    out += (depth === 0 ? '' : 'caused by: ') + s + '\n';
    e = e instanceof Error ? e.cause : undefined;
  }
  return out;
}

/** Run `wharf ARGV…`; resolves with the exit code. Never throws. */
export async function run(argv: readonly string[], io: CliIO, lib: CliLibrary): Promise<number> {
  const now = io.now ?? Date.now;
  const signal = io.signal ?? new AbortController().signal;
  const json = wantsJson(argv);
  let debug = io.env.WHARF_DEBUG === '1' || argv.includes('--debug');
  let commandName: string | undefined;
  try {
    const global = parseArgs(argv, GLOBAL_FLAGS, { stopAtOperand: true, elsewhere: flagOfCommand });
    if (global.bool('version')) {
      io.stdout.write(`wharf version ${lib.VERSION}\n`);
      return ExitCode.OK;
    }
    let [name, ...rest] = global.rest;
    if (name === undefined) {
      if (global.bool('help')) {
        io.stdout.write(mainHelp(lib.VERSION, COMMANDS));
        return ExitCode.OK;
      }
      io.stderr.write(mainHelp(lib.VERSION, COMMANDS));
      throw usageError('no command given', "run 'wharf COMMAND --help' for one command's flags and examples");
    }
    if (name === 'help') {
      const topic = rest.find((a) => !a.startsWith('-'));
      if (topic === undefined) {
        io.stdout.write(mainHelp(lib.VERSION, COMMANDS));
        return ExitCode.OK;
      }
      name = topic;
      rest = ['--help'];
    }
    const cmd = findCommand(name);
    if (!cmd) {
      const near = suggest(name, [...COMMANDS.map((c) => c.name), 'help']);
      throw usageError(`unknown command "${name}"`, `${near ? `did you mean "${near}"? ` : ''}run 'wharf --help' for the list of commands`);
    }
    commandName = cmd.name;
    const args: ParsedArgs = parseArgs(rest, [...cmd.flags, ...GLOBAL_FLAGS], { command: `wharf ${cmd.name}` });
    if (args.bool('help') || global.bool('help')) {
      io.stdout.write(commandHelp(cmd));
      return ExitCode.OK;
    }
    if (args.bool('version')) {
      io.stdout.write(`wharf version ${lib.VERSION}\n`);
      return ExitCode.OK;
    }
    debug = debug || args.bool('debug') || global.bool('debug');
    const n = args.operands.length;
    if (n < cmd.operands.min) {
      throw usageError(`'wharf ${cmd.name}' needs ${cmd.operands.names}${n > 0 ? `, got only ${n} operand${n === 1 ? '' : 's'}` : ''}`, `usage: wharf ${cmd.name} ${cmd.usage}`);
    }
    if (n > cmd.operands.max) {
      const extra = args.operands.slice(cmd.operands.max).map((a) => `"${a}"`).join(' ');
      throw usageError(`'wharf ${cmd.name}' takes ${cmd.operands.names}, but also got ${extra}`, `usage: wharf ${cmd.name} ${cmd.usage}`);
    }
    const tmp = args.str('tmpdir') ?? global.str('tmpdir');
    const verbose = debug; // fixed for the logger below
    return await cmd.run({
      args,
      io,
      lib,
      signal,
      tmpDir: tmp === undefined ? undefined : resolve(io.cwd, tmp),
      debug,
      now,
      logger: {
        warn: (m) => void io.stderr.write(`wharf: warning: ${sanitizeForTerminal(m)}\n`),
        debug: (m) => {
          if (verbose) io.stderr.write(`wharf: debug: ${sanitizeForTerminal(m)}\n`);
        },
      },
    });
  } catch (err) {
    const interrupted = signal.aborted;
    const exit = interrupted ? ExitCode.INTERRUPTED : exitCodeFor(err);
    const report = describe(err, interrupted);
    if (exit === ExitCode.USAGE && !report.hint) {
      report.hint = commandName ? `run 'wharf ${commandName} --help'` : "run 'wharf --help'";
    }
    if (json) {
      io.stderr.write(JSON.stringify({ error: report }) + '\n');
    } else {
      io.stderr.write(`wharf: error: ${sanitizeForTerminal(report.message)}\n`);
      if (report.hint) io.stderr.write(`  hint: ${sanitizeForTerminal(report.hint)}\n`);
    }
    if (debug) io.stderr.write(stackOf(err));
    return exit;
  }
}
