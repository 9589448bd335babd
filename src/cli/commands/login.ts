import { AuthStore, authFileForWriting, removeAll, removeCredentials, setCredentials } from '../../config/index.js';
import { WharfError } from '../../errors.js';
import { openClient, type RegistryAccess } from '../../transports/docker/index.js';
import { usageError } from '../args.js';
import { canPrompt, promptLine, readStdinSecret } from '../prompt.js';
import { RETRY_TIMES_FLAG, RegistrySetup } from '../registry-access.js';
import type { Command, CommandContext } from '../types.js';

/**
 * The key a login is stored under: `host[:port]` or `host[:port]/namespace/…`, from what the user typed. A scheme
 * (`https://`, `docker://`) and trailing slashes are dropped, and Docker Hub's other host names become docker.io,
 * as the containers tools store it.
 */
export function loginKey(operand: string): { key: string; host: string } {
  let key = operand.trim().replace(/^(?:docker|https?):\/\//i, '').replace(/\/+$/, '');
  const slash = key.indexOf('/');
  let host = slash < 0 ? key : key.slice(0, slash);
  const lower = host.toLowerCase();
  if (lower === 'index.docker.io' || lower === 'registry-1.docker.io' || lower === 'docker.io') {
    // Docker's own config keeps Docker Hub under https://index.docker.io/v1/ with a path: that path is no namespace.
    key = slash < 0 || key.slice(slash) === '/v1' ? 'docker.io' : `docker.io${key.slice(slash)}`;
    host = 'docker.io';
  }
  if (key === '' || host === '') throw usageError('no registry given', 'write the registry as host[:port], e.g. quay.io or localhost:5000');
  return { key, host };
}

/** The host that serves the registry API for a registry name (Docker Hub's API is not on docker.io itself). */
function apiHost(host: string): string {
  return host === 'docker.io' ? 'registry-1.docker.io' : host;
}

const NOT_LOGGED_IN_HINT = "log in with 'wharf login REGISTRY', or point --authfile at the file that holds the credentials";

export const loginCommand: Command = {
  name: 'login',
  summary: 'Log in to a registry: check the credentials, then store them in the auth file',
  usage: '[-u USER] [-p PASS | --password-stdin] [--authfile FILE] [--get-login] [--tls-verify=false] [--cert-dir DIR] REGISTRY',
  description: `
Check USER and PASSWORD against REGISTRY (host[:port], or host[:port]/namespace to keep credentials per
namespace) and, if the registry accepts them, store them in the auth file, where every other command finds
them. Nothing is stored when the registry refuses them. Prints "Login Succeeded!" on stdout.

The auth file is --authfile, else $REGISTRY_AUTH_FILE, else \${XDG_RUNTIME_DIR}/containers/auth.json: the file
skopeo, podman and buildah use, in their format, written atomically with mode 0600. If that file hands the
registry to a credential helper (credHelpers, credsStore), the credentials go to the helper.

A missing username or password is asked for on the terminal (the password without echo). --password-stdin reads
the password from standard input (one trailing newline is dropped), which keeps it out of the shell history and
the process list; -p/--password does neither and warns about it.

--get-login prints the username stored for REGISTRY (from every auth file wharf reads), without contacting the
registry, and fails if there is none.`,
  flags: [
    { name: 'username', short: 'u', type: 'string', placeholder: 'USER', help: 'username (asked for on a terminal when left out)' },
    { name: 'password', short: 'p', type: 'string', placeholder: 'PASS', help: 'password (ends up in the shell history: prefer --password-stdin)' },
    { name: 'password-stdin', type: 'boolean', help: 'read the password from standard input' },
    { name: 'authfile', type: 'string', placeholder: 'FILE', help: 'auth file to write (default $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json)' },
    { name: 'get-login', type: 'boolean', help: 'print the username logged in to REGISTRY, and do nothing else' },
    { name: 'tls-verify', type: 'boolean', help: 'require HTTPS and verified certificates (default true, unless registries.conf marks the registry insecure)' },
    { name: 'cert-dir', type: 'string', placeholder: 'DIR', help: 'use *.crt, *.cert and *.key in DIR instead of certs.d' },
    { name: 'verbose', type: 'boolean', help: 'also say where the credentials were stored' },
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'REGISTRY' },
  examples: [
    'wharf login -u alice quay.io',
    'echo "$TOKEN" | wharf login -u ci --password-stdin registry.example.com',
    'wharf login --tls-verify=false --authfile ./auth.json -u alice localhost:5000',
    'wharf login --get-login quay.io',
  ],
  takesReferences: false,
  async run(ctx) {
    const { args, io } = ctx;
    const { key, host } = loginKey(args.operands[0]!);
    const setup = new RegistrySetup(io, ctx.signal, `wharf/${ctx.lib.VERSION}`);
    const authfile = args.str('authfile');

    if (args.bool('get-login')) {
      const store = await AuthStore.load(setup.authFiles(authfile), setup.helperOptions());
      const found = await store.find(key, ctx.signal);
      const user = found?.credentials.username;
      if (!user) throw new WharfError('AUTH_FAILED', `not logged into ${key}`, { hint: NOT_LOGGED_IN_HINT });
      io.stdout.write(`${user}\n`);
      return 0;
    }

    const file = authFileForWriting(setup.authEnv(), setup.abs(authfile));
    const { username, password } = await readCredentials(ctx);

    // Check them against the registry before anything is written.
    const conf = await setup.registriesConf();
    const insecure = args.has('tls-verify') ? !args.bool('tls-verify') : conf.isInsecure(host);
    const access: RegistryAccess = {
      credentials: async () => ({ username, password }),
      tlsFiles: setup.tlsFiles(args.str('cert-dir')),
      retryTimes: setup.retryTimes(args),
      userAgent: `wharf/${ctx.lib.VERSION}`,
      ...(setup.proxy().enabled ? { proxy: setup.proxy() } : {}),
    };
    const client = await openClient(access, apiHost(host), '', insecure, ctx.logger, ctx.signal);
    try {
      await client.login(ctx.signal);
    } finally {
      client.close();
    }
    const where = await setCredentials(file, key, username, password, setup.helperOptions());
    if (args.bool('verbose')) io.stdout.write(`Used: ${where}\n`);
    io.stdout.write('Login Succeeded!\n');
    return 0;
  },
};

/** -u/-p/--password-stdin, and the terminal for what is missing. Never puts a secret in a message. */
async function readCredentials(ctx: CommandContext): Promise<{ username: string; password: string }> {
  const { args, io } = ctx;
  const fromStdin = args.bool('password-stdin');
  let password = args.str('password');
  let username = args.str('username');
  if (password !== undefined && fromStdin) throw usageError('--password and --password-stdin cannot be used together', 'keep --password-stdin');
  if (password !== undefined) {
    ctx.logger.warn('a password given with --password/-p is kept in your shell history and visible to other users in the process list; prefer --password-stdin');
  }
  if (fromStdin && username === undefined) {
    throw usageError('--password-stdin needs --username', 'standard input holds the password, so the username cannot be asked for: pass -u USER');
  }
  if (username === undefined) {
    if (!canPrompt(io.stdin)) throw usageError('no username given, and standard input is not a terminal to ask for it', 'pass -u USER');
    username = (await promptLine(io.stdin, io.stderr, 'Username: ', { echo: true, signal: ctx.signal })).trim();
  }
  if (username === '') throw usageError('the username is empty');
  if (fromStdin) {
    password = await readStdinSecret(io.stdin, 'the password', undefined, ctx.signal);
  } else if (password === undefined) {
    if (!canPrompt(io.stdin)) throw usageError('no password given, and standard input is not a terminal to ask for it', 'pipe it in with --password-stdin');
    password = await promptLine(io.stdin, io.stderr, 'Password: ', { echo: false, signal: ctx.signal });
  }
  if (password === '') throw usageError('the password is empty', 'registries do not accept an empty password');
  return { username, password };
}

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Remove the credentials stored for a registry (or, with --all, for every registry)',
  usage: '[--authfile FILE] REGISTRY | --all',
  description: `
Remove the credentials for REGISTRY from the auth file that 'wharf login' writes (--authfile, else
$REGISTRY_AUTH_FILE, else \${XDG_RUNTIME_DIR}/containers/auth.json), or from the credential helper that file names
for the registry. With --all, every credential in that file is removed. The registry is not contacted.

It fails when there is nothing to remove for REGISTRY; if other auth files wharf reads (such as
~/.docker/config.json) hold credentials for it, the message says which, as they are not edited.`,
  flags: [
    { name: 'all', short: 'a', type: 'boolean', help: 'remove the credentials for every registry in the auth file' },
    { name: 'authfile', type: 'string', placeholder: 'FILE', help: 'auth file to edit (default $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json)' },
    { name: 'tls-verify', type: 'boolean', help: 'accepted for compatibility with skopeo; logout does not contact the registry' },
  ],
  operands: { min: 0, max: 1, names: 'REGISTRY' },
  examples: ['wharf logout quay.io', 'wharf logout --authfile ./auth.json localhost:5000', 'wharf logout --all'],
  takesReferences: false,
  async run(ctx) {
    const { args, io } = ctx;
    const setup = new RegistrySetup(io, ctx.signal);
    const authfile = args.str('authfile');
    const file = authFileForWriting(setup.authEnv(), setup.abs(authfile));
    const operand = args.operands[0];
    if (args.bool('all')) {
      if (operand !== undefined) throw usageError(`--all removes every login, so it takes no REGISTRY (got "${operand}")`, 'drop the registry, or drop --all');
      await removeAll(file, setup.helperOptions());
      io.stdout.write('Removed login credentials for all registries\n');
      return 0;
    }
    if (operand === undefined) throw usageError("'wharf logout' needs REGISTRY (or --all)", 'usage: wharf logout [--authfile FILE] REGISTRY | --all');
    const { key } = loginKey(operand);
    if (await removeCredentials(file, key, setup.helperOptions())) {
      io.stdout.write(`Removed login credentials for ${key}\n`);
      return 0;
    }
    // Not in the file we edit: say where they are, if wharf would find them elsewhere.
    let elsewhere: string | undefined;
    if (authfile === undefined) {
      const others = setup.authFiles(undefined).filter((f) => f !== file);
      try {
        elsewhere = (await (await AuthStore.load(others, setup.helperOptions())).find(key, ctx.signal))?.source;
      } catch {
        elsewhere = undefined; // a broken file elsewhere does not change the answer
      }
    }
    throw new WharfError('AUTH_FAILED', `not logged into ${key}${elsewhere ? ` in ${file}` : ''}`, {
      hint: elsewhere
        ? `the credentials wharf uses for ${key} come from ${elsewhere}, which 'wharf logout' does not edit: use 'docker logout ${key}', or pass --authfile ${elsewhere}`
        : `there are no credentials for exactly ${key} in ${file}`,
    });
  },
};
