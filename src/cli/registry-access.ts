/**
 * Registry flags → RegistryAccess, with skopeo's flag names so scripts carry over:
 *
 *   --authfile FILE            auth file to read (default $REGISTRY_AUTH_FILE, else the containers order:
 *                              ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json,
 *                              $DOCKER_CONFIG/config.json or ~/.docker/config.json, ~/.dockercfg)
 *   --creds USER[:PASS]        credentials (asks for the password on a terminal when it is left out)
 *   --username U --password P  the same, in two flags
 *   --no-creds                 anonymous access, whatever the auth files hold
 *   --registry-token TOKEN     a bearer token sent as is
 *   --tls-verify[=false]       false: allow plain HTTP and unverified certificates
 *   --cert-dir DIR             CA certificates (*.crt) and a client certificate (NAME.cert + NAME.key), instead
 *                              of certs.d (~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d)
 *   --retry-times N            retries after a network error, 408, 429 or 5xx (default 3)
 *
 * `copy` and `sync` take every per-registry flag twice, as --src-… and --dest-…; their plain --authfile and
 * --tls-verify apply to both sides unless a side's own flag says otherwise (skopeo's --authfile and its global
 * --tls-verify work that way).
 *
 * This is where the process environment meets the registry transport: REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR,
 * XDG_CONFIG_HOME, HOME, DOCKER_CONFIG, CONTAINERS_REGISTRIES_CONF, and the proxy variables (HTTPS_PROXY,
 * HTTP_PROXY, NO_PROXY and their lower-case forms, REQUEST_METHOD) come from CliIO.env, never from process.env.
 * registries.conf is read once, on first use, and only by commands that reach a registry.
 */
import { resolve } from 'node:path';
import {
  AuthStore,
  authFileCandidates,
  certDirCandidates,
  loadRegistriesConf,
  loadTlsConfig,
  registriesConfCandidates,
  type AuthEnv,
  type RegistriesConf,
  type TlsFiles,
} from '../config/index.js';
import type { RegistryCredentials } from '../registry-client/index.js';
import { proxyFromEnv, type ProxyConfig } from '../util/proxy.js';
import type { RegistryAccess } from '../transports/docker/access.js';
import type { ImageReference } from '../transports/types.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';
import { promptLine } from './prompt.js';
import type { CliIO } from './types.js';

/** The flag prefix of a side: none for commands with one registry, `src-`/`dest-` for copy and sync. */
export type RegistrySide = '' | 'src-' | 'dest-';

export const DEFAULT_RETRY_TIMES = 3;

function sideWords(side: RegistrySide): string {
  return side === 'src-' ? 'the source registry' : side === 'dest-' ? 'the destination registry' : 'the registry';
}

/** The per-registry flags of one side. */
export function registryFlags(side: RegistrySide): FlagSpec[] {
  const of = sideWords(side);
  return [
    { name: `${side}authfile`, type: 'string', placeholder: 'FILE', help: `auth file for ${of} (default $REGISTRY_AUTH_FILE, else \${XDG_RUNTIME_DIR}/containers/auth.json, then ~/.docker/config.json)` },
    { name: `${side}creds`, type: 'string', placeholder: 'USER[:PASS]', help: `credentials for ${of}; without :PASS the password is asked for on a terminal` },
    { name: `${side}username`, type: 'string', placeholder: 'USER', help: `username for ${of}` },
    { name: `${side}password`, type: 'string', placeholder: 'PASS', help: `password for ${of} (visible to other users in the process list: prefer an auth file)` },
    { name: `${side}no-creds`, type: 'boolean', help: `access ${of} anonymously` },
    { name: `${side}registry-token`, type: 'string', placeholder: 'TOKEN', help: `bearer token for ${of}` },
    { name: `${side}tls-verify`, type: 'boolean', help: `require HTTPS and verified certificates for ${of} (default true, unless registries.conf marks it insecure)` },
    { name: `${side}cert-dir`, type: 'string', placeholder: 'DIR', help: `use *.crt, *.cert and *.key in DIR for ${of} instead of certs.d` },
  ];
}

export const RETRY_TIMES_FLAG: FlagSpec = {
  name: 'retry-times',
  type: 'int',
  placeholder: 'N',
  help: `retries of a request after a network error, 408, 429 or 5xx, with exponential backoff (default ${DEFAULT_RETRY_TIMES}); never after an auth failure`,
};

/** For copy and sync: --authfile and --tls-verify for both sides, then every flag per side. */
export function twoSidedRegistryFlags(): FlagSpec[] {
  return [
    { name: 'authfile', type: 'string', placeholder: 'FILE', help: 'auth file for both registries, unless --src-authfile/--dest-authfile say otherwise' },
    { name: 'tls-verify', type: 'boolean', help: 'require HTTPS and verified certificates for both registries, unless --src-tls-verify/--dest-tls-verify say otherwise' },
    ...registryFlags('src-'),
    ...registryFlags('dest-'),
    RETRY_TIMES_FLAG,
  ];
}

/** The help paragraph about registry access shared by the commands that reach registries. */
export const REGISTRY_HELP = `Registry access:
  Credentials come from --creds (or --username/--password), --registry-token, or the auth files: --authfile,
  else $REGISTRY_AUTH_FILE, else \${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json,
  $DOCKER_CONFIG/config.json or ~/.docker/config.json (credential helpers included), as 'wharf login' writes
  them. Certificates come from --cert-dir, else certs.d/HOST:PORT in ~/.config/containers, /etc/containers or
  /etc/docker. registries.conf ($CONTAINERS_REGISTRIES_CONF, ~/.config/containers/registries.conf or
  /etc/containers/registries.conf) gives short-name search registries, mirrors, and insecure or blocked
  registries; which registry or mirror served a short name is said on stderr. Proxies come from HTTPS_PROXY,
  HTTP_PROXY and NO_PROXY (or their lower-case forms), read as Go programs such as skopeo read them.`;

/** Split `USER[:PASS]` at the first colon; never puts the value in a message. */
export function splitCreds(value: string, flag: string): { username: string; password: string | undefined } {
  const colon = value.indexOf(':');
  const username = colon < 0 ? value : value.slice(0, colon);
  if (username === '') throw usageError(`${flag}: the username is empty`, `write ${flag} USER:PASSWORD, or ${flag} USER to be asked for the password`);
  return { username, password: colon < 0 ? undefined : value.slice(colon + 1) };
}

/**
 * Builds RegistryAccess objects for one command run. Everything that reads a file is done lazily and once:
 * registries.conf, each auth file set, each host's certs.d directory.
 */
export class RegistrySetup {
  private conf: Promise<RegistriesConf> | undefined;
  private proxies: ProxyConfig | undefined;
  private readonly stores = new Map<string, Promise<AuthStore>>();

  constructor(
    private readonly io: CliIO,
    private readonly signal: AbortSignal,
    private readonly userAgent?: string,
  ) {}

  /** The merged registries.conf (and drop-ins), loaded on the first call. */
  registriesConf(): Promise<RegistriesConf> {
    this.conf ??= (async () => {
      const env = this.io.env;
      const paths = await registriesConfCandidates({ CONTAINERS_REGISTRIES_CONF: this.abs(env.CONTAINERS_REGISTRIES_CONF), HOME: env.HOME });
      return loadRegistriesConf(paths);
    })();
    return this.conf;
  }

  /** The proxy settings of the environment, read once. */
  proxy(): ProxyConfig {
    this.proxies ??= proxyFromEnv(this.io.env);
    return this.proxies;
  }

  /** The auth files to read for an explicit --authfile (or none), in lookup order. */
  authFiles(explicit: string | undefined): string[] {
    return authFileCandidates(this.authEnv(), this.abs(explicit));
  }

  authEnv(): AuthEnv {
    const env = this.io.env;
    return {
      REGISTRY_AUTH_FILE: this.abs(env.REGISTRY_AUTH_FILE),
      XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR,
      XDG_CONFIG_HOME: env.XDG_CONFIG_HOME,
      HOME: env.HOME,
      DOCKER_CONFIG: env.DOCKER_CONFIG,
      uid: this.io.uid,
    };
  }

  /** The environment credential helpers run with: wharf's own, as handed in. */
  helperOptions(): { helperEnv: Record<string, string | undefined>; signal: AbortSignal } {
    return { helperEnv: { ...this.io.env }, signal: this.signal };
  }

  /** certs.d lookup for `host[:port]`, or only `certDir` when --cert-dir was given. */
  tlsFiles(certDir: string | undefined): (hostPort: string) => Promise<TlsFiles | undefined> {
    const cache = new Map<string, Promise<TlsFiles>>();
    const explicit = this.abs(certDir);
    const home = this.io.env.HOME;
    return (hostPort) => {
      let p = cache.get(hostPort);
      if (!p) {
        p = (async () => loadTlsConfig(certDirCandidates(hostPort, { explicitCertDir: explicit, HOME: home })))();
        cache.set(hostPort, p);
      }
      return p;
    };
  }

  /** --retry-times, checked. */
  retryTimes(args: ParsedArgs): number {
    const n = args.int('retry-times');
    if (n === undefined) return DEFAULT_RETRY_TIMES;
    if (n < 0 || n > 100) throw usageError(`invalid --retry-times ${n}`, 'give a number from 0 (no retries) to 100');
    return n;
  }

  /**
   * The access for one side, from its flags (a side's flag first, then the plain one where it exists), the auth
   * files and the environment. May ask for a password on the terminal (--creds USER).
   */
  async access(args: ParsedArgs, side: RegistrySide): Promise<RegistryAccess> {
    const flag = (name: string): string => (args.has(`${side}${name}`) || side === '' ? `${side}${name}` : name);
    const str = (name: string): string | undefined => args.str(flag(name));
    const has = (name: string): boolean => args.has(flag(name));

    const access: RegistryAccess = {
      registries: await this.registriesConf(),
      retryTimes: this.retryTimes(args),
      tlsFiles: this.tlsFiles(str('cert-dir')),
    };
    if (this.userAgent) access.userAgent = this.userAgent;
    if (this.proxy().enabled) access.proxy = this.proxy();
    if (has('tls-verify')) access.tlsVerify = args.bool(flag('tls-verify'));

    const token = str('registry-token');
    const noCreds = args.bool(`${side}no-creds`);
    const fixed = await this.flagCredentials(args, side);
    if (noCreds && (fixed || token !== undefined)) {
      const other = fixed ? `--${side}creds/--${side}username` : `--${side}registry-token`;
      throw usageError(`--${side}no-creds cannot be combined with ${other}`, 'keep one of them');
    }
    if (token !== undefined) {
      if (token === '') throw usageError(`--${side}registry-token is empty`);
      access.registryToken = token;
    }
    if (noCreds) {
      access.credentials = async () => undefined;
    } else if (fixed) {
      access.credentials = async () => fixed;
    } else {
      const files = this.authFiles(str('authfile'));
      access.credentials = async (key) => (await this.store(files)).lookup(key, this.signal);
    }
    return access;
  }

  /** --creds or --username/--password of a side, the password asked for on a terminal when missing. */
  private async flagCredentials(args: ParsedArgs, side: RegistrySide): Promise<RegistryCredentials | undefined> {
    const creds = args.str(`${side}creds`);
    const username = args.str(`${side}username`);
    const password = args.str(`${side}password`);
    if (creds !== undefined && (username !== undefined || password !== undefined)) {
      throw usageError(`--${side}creds cannot be combined with --${side}username/--${side}password`, 'keep one of them');
    }
    let user: string;
    let pass: string | undefined;
    if (creds !== undefined) {
      ({ username: user, password: pass } = splitCreds(creds, `--${side}creds`));
    } else if (username !== undefined) {
      if (username === '') throw usageError(`--${side}username is empty`);
      user = username;
      pass = password;
    } else if (password !== undefined) {
      throw usageError(`--${side}password needs --${side}username`);
    } else {
      return undefined;
    }
    if (pass === undefined) {
      if (this.io.stdin?.isTTY !== true) {
        throw usageError(`no password for ${user} given for ${sideWords(side)}, and standard input is not a terminal to ask for it`, `write --${side}creds USER:PASSWORD (USER: for an empty password), or use an auth file ('wharf login')`);
      }
      pass = await promptLine(this.io.stdin, this.io.stderr, `Password for ${user} (${sideWords(side)}): `, { echo: false, signal: this.signal });
    }
    return { username: user, password: pass };
  }

  private store(files: string[]): Promise<AuthStore> {
    const key = files.join('\0');
    let p = this.stores.get(key);
    if (!p) {
      p = AuthStore.load(files, this.helperOptions());
      this.stores.set(key, p);
    }
    return p;
  }

  /** A path from a flag or the environment, made absolute against the working directory wharf was started in. */
  abs(path: string | undefined): string | undefined {
    return path ? resolve(this.io.cwd, path) : path;
  }
}

/** Whether a reference is a registry reference, so registry access needs to be set up for it. */
export function isDockerReference(ref: ImageReference): boolean {
  return ref.transport?.name === 'docker';
}
