/**
 * Reading what the user types: a whole stdin (`login --password-stdin`), and prompts on a terminal for a username
 * (echoed) or a password (never echoed: the terminal is put in raw mode and nothing is written back).
 *
 * Prompts are written to stderr, so stdout keeps only results. A secret is returned to the caller and never
 * written anywhere by this module.
 */
import { StringDecoder } from 'node:string_decoder';
import { WharfError } from '../errors.js';
import type { InStream, OutStream } from './types.js';

/** The most `--password-stdin` reads: a password, not a file. */
export const MAX_STDIN_SECRET = 64 * 1024;

function noStdin(what: string): WharfError {
  return new WharfError('USAGE', `cannot read ${what}: there is no standard input`, {
    hint: 'pass it with a flag instead',
  });
}

/**
 * Read stdin to its end (at most `max` bytes) and drop one trailing line break, as `docker login --password-stdin`
 * does; everything else, spaces included, is part of the secret.
 */
export function readStdinSecret(stdin: InStream | undefined, what: string, max = MAX_STDIN_SECRET, signal?: AbortSignal): Promise<string> {
  if (!stdin) return Promise.reject(noStdin(what));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: WharfError | undefined, value?: string): void => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      stdin.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      size += b.length;
      if (size > max) {
        done(new WharfError('TOO_LARGE', `${what} on standard input is longer than ${max} bytes`, { hint: 'pipe only the secret into wharf' }));
        return;
      }
      chunks.push(b);
    };
    const onEnd = (): void => done(undefined, Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, ''));
    const onError = (err: Error): void => done(new WharfError('IO_ERROR', `reading ${what} from standard input failed: ${(err as NodeJS.ErrnoException).code ?? 'read error'}`));
    const onAbort = (): void => done(new WharfError('ABORTED', 'interrupted'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onError);
    stdin.resume();
  });
}

/** Whether prompts can be shown: stdin is a terminal that can be put in raw mode. */
export function canPrompt(stdin: InStream | undefined): stdin is InStream & { setRawMode(mode: boolean): unknown } {
  return stdin?.isTTY === true && typeof stdin.setRawMode === 'function';
}

export interface PromptOptions {
  /** Write back what is typed (a username); false for a secret. */
  echo: boolean;
  signal?: AbortSignal;
}

/**
 * Ask `question` on stderr and read one line from the terminal in raw mode. Backspace edits, Enter ends,
 * Ctrl-C aborts (raw mode turns off the terminal's own SIGINT), Ctrl-D on an empty line aborts, Ctrl-U clears.
 * The terminal is restored in every case.
 */
export function promptLine(stdin: InStream | undefined, stderr: OutStream, question: string, options: PromptOptions): Promise<string> {
  if (!canPrompt(stdin)) {
    return Promise.reject(
      new WharfError('USAGE', `cannot ask for ${question.replace(/:\s*$/, '').toLowerCase()}: standard input is not a terminal`, {
        hint: 'pass it with a flag (for a password: --password-stdin)',
      }),
    );
  }
  const { echo, signal } = options;
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let line = '';
    let finished = false;
    /** Inside an escape sequence (arrow keys, …): 1 after ESC, 2 inside `ESC [` or `ESC O` until its final byte. */
    let escape = 0;
    const finish = (err: WharfError | undefined): void => {
      if (finished) return;
      finished = true;
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onEnd);
      signal?.removeEventListener('abort', onAbort);
      try {
        stdin.setRawMode(false);
      } catch {
        /* the terminal went away */
      }
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onAbort = (): void => finish(new WharfError('ABORTED', 'interrupted'));
    const onEnd = (): void => finish(new WharfError('ABORTED', 'standard input closed before a line was entered'));
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (finished) return;
        if (escape === 1) {
          escape = ch === '[' || ch === 'O' ? 2 : 0;
          continue;
        }
        if (escape === 2) {
          if (ch >= '@' && ch <= '~') escape = 0;
          continue;
        }
        if (ch === '\u001b') {
          escape = 1;
          continue;
        }
        if (ch === '\r' || ch === '\n') return finish(undefined);
        if (ch === '\u0003') return finish(new WharfError('ABORTED', 'interrupted'));
        if (ch === '\u0004') {
          if (line === '') return finish(new WharfError('ABORTED', 'no input (Ctrl-D)'));
          continue;
        }
        if (ch === '\u007f' || ch === '\b') {
          if (line.length > 0) {
            const chars = [...line];
            chars.pop();
            line = chars.join('');
            if (echo) stderr.write('\b \b');
          }
          continue;
        }
        if (ch === '\u0015') {
          if (echo) stderr.write('\b \b'.repeat([...line].length));
          line = '';
          continue;
        }
        if (ch < ' ') continue; // other control keys and escape sequences' lead bytes
        line += ch;
        if (echo) stderr.write(ch);
      }
    };
    stderr.write(question);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onEnd);
    stdin.resume();
  });
}
