/**
 * The docker-credential-helpers protocol: a program `docker-credential-NAME` with one verb argument.
 *
 *   get    stdin: the server URL            stdout: {"ServerURL","Username","Secret"}
 *   store  stdin: {"ServerURL","Username","Secret"}
 *   erase  stdin: the server URL
 *
 * A failing helper exits non-zero and prints its message on stdout; "credentials not found in native
 * keychain" is the standard "nothing stored" answer, which is not an error. A Username of `<token>` means the
 * Secret is an identity (refresh) token rather than a password.
 */
import { spawn } from 'node:child_process';
import { WharfError } from '../errors.js';
import { printable } from './names.js';

export const CREDENTIALS_NOT_FOUND = 'credentials not found in native keychain';
const IDENTITY_TOKEN_USERNAME = '<token>';
const MAX_HELPER_OUTPUT = 1 << 20;
const DEFAULT_TIMEOUT_MS = 120_000;

/** What every operation that may run a credential helper accepts. */
export interface HelperOptions {
  /**
   * The environment of the helper process, PATH included (the helper is looked up on this PATH). When omitted
   * the helper inherits the environment of the wharf process.
   */
  helperEnv?: Record<string, string | undefined>;
  /** Kill the helper after this long (default 120 s: some helpers talk to a cloud API or a keyring prompt). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Credentials as a registry client needs them: a user and password, or an identity (refresh) token. */
export type Credentials = { username: string; password: string } | { identityToken: string; username?: string };

const HELPER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/**
 * A helper name becomes part of a program name that is looked up on PATH, so it must be a plain word: no path
 * separators, no `..`, no spaces or control characters.
 */
export function checkHelperName(name: unknown, where: string): string {
  if (typeof name !== 'string' || !HELPER_NAME_RE.test(name) || name.includes('..') || name.length > 100) {
    const shown = typeof name === 'string' ? JSON.stringify(printable(name, 60)) : `a ${typeof name}`;
    throw new WharfError('AUTH_FILE_INVALID', `${where}: ${shown} is not a valid credential helper name`, {
      hint: 'a helper name is the part after "docker-credential-" (e.g. "pass", "ecr-login") and may not contain "/" or ".."',
    });
  }
  return name;
}

interface HelperResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runHelper(name: string, verb: 'get' | 'store' | 'erase', input: string, opts: HelperOptions): Promise<HelperResult> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const child = spawn(program, [verb], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.helperEnv ? { env: opts.helperEnv as NodeJS.ProcessEnv } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      windowsHide: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() =>
        reject(
          new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} did not answer "${verb}" within ${Math.round((opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s`, {
            hint: 'the helper may be waiting for a keyring unlock or a prompt; run it by hand to see',
            retryable: true,
          }),
        ),
      );
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > MAX_HELPER_OUTPUT) {
        child.kill('SIGKILL');
        finish(() =>
          reject(new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} wrote more than ${MAX_HELPER_OUTPUT} bytes`, {
            hint: 'this is not a docker credential helper; check the "credHelpers"/"credsStore" entry',
          })),
        );
        return;
      }
      out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < 4096) err.push(b);
      errLen += b.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(() => {
        if (e.name === 'AbortError') {
          reject(new WharfError('ABORTED', 'operation aborted'));
        } else if (e.code === 'ENOENT') {
          reject(
            new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} is not installed (not found in PATH)`, {
              hint: `install ${program}, or remove the "credHelpers"/"credsStore" entry that names "${name}"`,
            }),
          );
        } else if (e.code === 'EACCES') {
          reject(new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} is not executable`, {
            hint: `check the permissions of ${program} on PATH`,
          }));
        } else {
          reject(new WharfError('CREDENTIAL_HELPER_FAILED', `running credential helper ${program}: ${e.code ?? e.message}`));
        }
      });
    });
    child.on('close', (code) => {
      finish(() =>
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
    });
    // A helper that exits without reading stdin makes the write fail with EPIPE; the exit code tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

function failure(program: string, verb: string, server: string, r: HelperResult, secret?: string): WharfError {
  let said = r.stdout.trim() || r.stderr.trim();
  // Defence in depth: a helper that echoes its input must not put the secret into our message.
  if (secret) said = said.split(secret).join('***');
  const detail = said ? `: ${printable(said)}` : ` (exit status ${r.code ?? 'killed'})`;
  return new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} failed to ${verb} credentials for ${server}${detail}`, {
    hint: `run "echo ${server} | ${program} get" by hand to see what the helper needs`,
  });
}

/** `get`: the stored credentials for `serverURL`, or undefined if the helper has none. */
export async function helperGet(name: string, serverURL: string, opts: HelperOptions = {}): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const r = await runHelper(name, 'get', serverURL, opts);
  if (r.code !== 0) {
    if (r.stdout.trim() === CREDENTIALS_NOT_FOUND) return undefined;
    throw failure(program, 'get', serverURL, r);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    // Never quote the output: it is meant to hold a secret.
    throw new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} answered "get" for ${serverURL} with something that is not JSON`, {
      hint: `check that ${program} is a docker credential helper`,
    });
  }
  const o = parsed as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof (o.Username ?? '') !== 'string' || typeof (o.Secret ?? '') !== 'string') {
    throw new WharfError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} answered "get" for ${serverURL} without string "Username" and "Secret" fields`, {
      hint: `check that ${program} is a docker credential helper`,
    });
  }
  const username = (o.Username as string | undefined) ?? '';
  const secret = (o.Secret as string | undefined) ?? '';
  if (username === IDENTITY_TOKEN_USERNAME) return secret === '' ? undefined : { identityToken: secret };
  if (username === '' && secret === '') return undefined;
  return { username, password: secret };
}

/** `store`: save a username and password for `serverURL`. */
export async function helperStore(name: string, serverURL: string, username: string, secret: string, opts: HelperOptions = {}): Promise<void> {
  const program = `docker-credential-${name}`;
  const input = `${JSON.stringify({ ServerURL: serverURL, Username: username, Secret: secret })}\n`;
  const r = await runHelper(name, 'store', input, opts);
  if (r.code !== 0) throw failure(program, 'store', serverURL, r, secret);
}

/** `erase`: forget `serverURL`. Returns false if the helper had nothing stored for it. */
export async function helperErase(name: string, serverURL: string, opts: HelperOptions = {}): Promise<boolean> {
  const program = `docker-credential-${name}`;
  const r = await runHelper(name, 'erase', serverURL, opts);
  if (r.code === 0) return true;
  if (r.stdout.trim() === CREDENTIALS_NOT_FOUND) return false;
  throw failure(program, 'erase', serverURL, r);
}
