import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WharfError, asWharfError } from '../../errors.js';
// The server (with its YAML and bcrypt) is loaded when one of these commands runs, not on every wharf start.
import type { AccessLogEntry, RegistryServerOptions, ServerConfig } from '../../server/index.js';
import { humanSize } from '../format.js';
import type { CliIO, Command } from '../types.js';

/** `$XDG_DATA_HOME/wharf/registry`, else `~/.local/share/wharf/registry`: where `wharf serve` keeps images by default. */
export function defaultStorage(io: CliIO): string {
  const data = io.env.XDG_DATA_HOME || join(io.env.HOME || io.cwd, '.local', 'share');
  return join(data, 'wharf', 'registry');
}

const server = (): Promise<typeof import('../../server/index.js')> => import('../../server/index.js');

export async function loadServerConfig(io: CliIO, file: string | undefined): Promise<ServerConfig> {
  const { DEFAULT_GC, parseServerConfig } = await server();
  if (file === undefined) return { access: [], gc: { ...DEFAULT_GC }, log: { access: true }, limits: {} };
  const path = resolve(io.cwd, file);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    throw new WharfError('SERVER_CONFIG_INVALID', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
      hint: 'give the path of a YAML configuration file; `wharf serve --help` shows its format',
    });
  }
  return parseServerConfig(text, path, dirname(path));
}

/** A bad --listen is a usage error (exit 2), unlike the same mistake in a configuration file. */
async function listenFlag(value: string): Promise<{ host: string; port: number }> {
  try {
    return (await server()).parseListen(value, '--listen');
  } catch (err) {
    throw new WharfError('USAGE', (err as WharfError).message, { hint: (err as WharfError).hint ?? '' });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** One access-log line for people: `12:01:02 GET /v2/app/manifests/1 200 1.2 KiB 3 ms alice`. */
function humanLogLine(e: AccessLogEntry): string {
  const time = e.time.slice(11, 19);
  const parts = [time, e.method ?? '?', e.path, String(e.status), humanSize(e.bytesOut), `${Math.round(e.ms)} ms`];
  if (e.user) parts.push(e.user);
  if (e.error) parts.push(e.error);
  if (e.event) parts.push(e.event);
  return parts.join(' ');
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (err) {
    throw new WharfError('SERVER_CONFIG_INVALID', `cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
      hint: 'tls: {cert, key} name PEM files; make a self-signed pair with openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem',
    });
  }
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run an OCI registry (like registry:2) over a local storage folder',
  usage: '[--listen HOST:PORT] [--storage DIR] [--config FILE] [-q] [--json | --log-format text|json]',
  description: `
Serve the OCI distribution API (v1.1: pull, push, chunked and resumable uploads, mounts, tags, catalog,
deletes, referrers) until Ctrl-C or SIGTERM. skopeo, podman, docker, crane and wharf push to it and pull from it.

Storage: one OCI image layout per repository (DIR/team/app/{oci-layout,index.json,blobs/}), tags as the layout's
image names, so what 'wharf sync --dest oci … DIR' or 'wharf copy … oci:DIR/team/app:v1' wrote is served as it is.
What 'wharf sync --dest dir … DIR' (or skopeo) wrote is served too: at start, each DIR/REPO:TAG folder of a dir:
image becomes tag TAG of REPO, whose layout hard-links the folder's files (nothing is copied).
Pushed blobs are stored once in DIR/.wharf/blobs and hard-linked into each repository that has them.
Default storage: $XDG_DATA_HOME/wharf/registry (~/.local/share/wharf/registry). Default listen: 127.0.0.1:5000.

Without 'auth' in the configuration, anyone who can reach the port may pull, push and delete (a warning is
printed unless it listens on loopback only). The configuration file (YAML; paths relative to it):

  listen: 0.0.0.0:5000
  storage: /srv/registry
  tls: { cert: cert.pem, key: key.pem }
  auth:
    htpasswd: htpasswd               # bcrypt entries: htpasswd -cB htpasswd alice
    groups: { ci: [carol] }
    token: { expiry: 5m }            # the built-in Bearer token endpoint is /token
  access:                            # with auth, nothing is allowed unless a rule allows it
    - { repositories: ["team-a/**"], users: [alice], groups: [ci], actions: [pull, push, delete] }
    - { repositories: ["**"], users: [bob], actions: [pull] }
    - { repositories: ["public/**"], anonymous: [pull] }
  gc: { interval: 24h, grace: 1h, deleteUntagged: false }    # online garbage collection
  log: { access: true }

Also served: /healthz (200 when the storage is writable) and /metrics (Prometheus text format).
Each request is logged on stderr: one JSON object per line when stderr is not a terminal (or with --json),
a short line on a terminal (or with --log-format text); -q logs no requests. Exit code 0 after Ctrl-C or
SIGTERM once the requests in flight are answered. No credentials appear in the log.`,
  flags: [
    { name: 'listen', type: 'string', placeholder: 'HOST:PORT', help: 'address to listen on (default 127.0.0.1:5000; :5000 for every interface)' },
    { name: 'storage', type: 'string', placeholder: 'DIR', help: 'storage folder (default $XDG_DATA_HOME/wharf/registry)' },
    { name: 'config', type: 'string', placeholder: 'FILE', help: 'YAML configuration: auth, access rules, TLS, GC schedule' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'no access log' },
    { name: 'json', type: 'boolean', help: 'access log and messages as JSON lines (the same as --log-format json)' },
    { name: 'log-format', type: 'string', choices: ['text', 'json'], placeholder: 'FORMAT', help: 'text (default on a terminal) or json (default otherwise)' },
  ],
  operands: { min: 0, max: 0, names: 'no operands' },
  examples: [
    'wharf serve',
    'wharf serve --listen :5000 --storage /srv/registry --config /etc/wharf/registry.yaml',
    'skopeo copy --dest-tls-verify=false oci:./layout:v1 docker://127.0.0.1:5000/team/app:v1',
  ],
  takesReferences: false,
  async run(ctx) {
    const { args, io } = ctx;
    const config = await loadServerConfig(io, args.str('config'));
    const { collectGarbage, createAuthGate, startRegistryServer, META_DIR } = await server();
    const listen = args.str('listen') !== undefined ? await listenFlag(args.str('listen')!) : (config.listen ?? { host: '127.0.0.1', port: 5000 });
    const storage = args.str('storage') !== undefined ? resolve(io.cwd, args.str('storage')!) : (config.storage ?? defaultStorage(io));
    const format = args.bool('json') ? 'json' : (args.str('log-format') ?? (io.stderr.isTTY === true ? 'text' : 'json'));
    const json = format === 'json';
    const say = (message: string, fields: Record<string, unknown> = {}): void => {
      io.stderr.write(json ? `${JSON.stringify({ time: new Date(ctx.now()).toISOString(), msg: message, ...fields })}\n` : `wharf serve: ${message}\n`);
    };
    const options: RegistryServerOptions = { storage, host: listen.host, port: listen.port };
    if (config.limits.maxBlobBytes !== undefined || config.limits.maxManifestBytes !== undefined) {
      options.limits = {};
      if (config.limits.maxBlobBytes !== undefined) options.limits.maxBlobBytes = config.limits.maxBlobBytes;
      if (config.limits.maxManifestBytes !== undefined) options.limits.maxManifestBytes = config.limits.maxManifestBytes;
    }
    if (config.tls) options.tls = { cert: await readPem(config.tls.cert, 'certificate'), key: await readPem(config.tls.key, 'key') };
    if (config.auth) {
      await fsp.mkdir(join(storage, META_DIR), { recursive: true }).catch((err: unknown) => {
        throw asWharfError(err, 'IO_ERROR', `creating the storage ${storage}`);
      });
      const auth = await createAuthGate({
        ...config.auth,
        access: config.access,
        defaultKeyPath: join(storage, META_DIR, 'token.key'),
        onWarning: (m) => say(`warning: ${m}`, { level: 'warning' }),
      });
      options.gate = auth.gate;
      options.tokenEndpoint = auth.tokenEndpoint;
    }
    if (!args.bool('quiet') && config.log.access) {
      options.log = (entry) => void io.stderr.write(json ? `${JSON.stringify(entry)}\n` : `${humanLogLine(entry)}\n`);
    }
    const gc = config.gc;
    if (gc.intervalMs !== undefined) {
      options.background = {
        intervalMs: gc.intervalMs,
        run: async (store, metrics) => {
          const report = await collectGarbage(store, { graceMs: gc.graceMs, uploadExpiryMs: gc.uploadExpiryMs, deleteUntagged: gc.deleteUntagged });
          metrics.add('wharf_gc_runs_total', 1);
          metrics.add('wharf_gc_deleted_blobs_total', report.freed.length);
          metrics.add('wharf_gc_deleted_bytes_total', report.bytesFreed);
          metrics.add('wharf_gc_deleted_manifests_total', report.manifests.length);
          say(`garbage collection: freed ${humanSize(report.bytesFreed)} in ${count(report.freed.length, 'blob')}, ${count(report.manifests.length, 'untagged manifest')}, ${count(report.uploads, 'stale upload')}`, { gc: { freedBytes: report.bytesFreed, blobs: report.freed.length, manifests: report.manifests.length, uploads: report.uploads } });
        },
      };
      options.onBackgroundError = (err) => say(`garbage collection failed: ${(err as Error).message}`, { level: 'error' });
    }
    const running = await startRegistryServer(options);
    if (running.adopted.adopted.length > 0) {
      say(`serving ${count(running.adopted.adopted.length, 'dir: image')} found in the storage: ${running.adopted.adopted.slice(0, 5).join(', ')}${running.adopted.adopted.length > 5 ? ', …' : ''}`, { adopted: running.adopted.adopted });
    }
    for (const skipped of running.adopted.skipped) say(`warning: not serving ${skipped}`, { level: 'warning' });
    if (!config.auth && !isLoopback(listen.host)) {
      say(`WARNING: no auth is configured and ${listen.host}:${running.port} is reachable from other machines: anyone who can reach it may push and delete images. Configure auth (wharf serve --help) or listen on 127.0.0.1.`, { level: 'warning' });
    }
    say(`listening on ${running.url}, storage ${storage}${config.auth ? ', auth on' : ''}${config.tls ? ', TLS' : ''}`, { url: running.url, storage });
    await new Promise<void>((resolveStop) => {
      if (ctx.signal.aborted) resolveStop();
      ctx.signal.addEventListener('abort', () => resolveStop(), { once: true });
    });
    say('stopping: finishing requests in flight');
    await running.close();
    say('stopped');
    return 0;
  },
};

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export const registryCommand: Command = {
  name: 'registry',
  summary: "Maintain a 'wharf serve' storage folder: 'wharf registry gc'",
  usage: 'gc [--storage DIR] [--dry-run] [--delete-untagged] [--grace DURATION] [--json]',
  description: `
'wharf registry gc' removes blobs that no manifest of their repository needs, frees the bytes no repository
links any more, and removes abandoned uploads. It runs beside a live 'wharf serve' on the same storage: each
repository is swept under the lock that pushes take, so a push in progress never loses a blob.

It never removes: a blob a manifest needs (config, layers), an index's child manifests, a referrer of a kept
manifest (signatures, SBOMs), an upload in progress, or anything younger than --grace (default 1h), which
protects the blobs of an image whose manifest is still being pushed. --delete-untagged also removes manifests
that no tag reaches (directly, as an index's child, or as a referrer). Interrupting it leaves a consistent store.`,
  flags: [
    { name: 'storage', type: 'string', placeholder: 'DIR', help: 'storage folder (default $XDG_DATA_HOME/wharf/registry)' },
    { name: 'config', type: 'string', placeholder: 'FILE', help: "take storage and gc settings from 'wharf serve' configuration" },
    { name: 'dry-run', type: 'boolean', help: 'say what would be removed; remove nothing' },
    { name: 'delete-untagged', type: 'boolean', help: 'also remove manifests that no tag reaches' },
    { name: 'grace', type: 'string', placeholder: 'DURATION', help: 'keep anything younger than this (default 1h; 0s for none)' },
    { name: 'json', type: 'boolean', help: 'print the report as JSON' },
  ],
  operands: { min: 1, max: 1, names: 'a subcommand (gc)' },
  examples: ['wharf registry gc --storage /srv/registry --dry-run', 'wharf registry gc --storage /srv/registry --delete-untagged --grace 10m'],
  takesReferences: false,
  async run(ctx) {
    const { args, io } = ctx;
    const sub = args.operands[0];
    if (sub !== 'gc') throw new WharfError('USAGE', `unknown registry subcommand "${String(sub).slice(0, 30)}"`, { hint: "the subcommand is gc: 'wharf registry gc --storage DIR'" });
    const config = await loadServerConfig(io, args.str('config'));
    const storage = args.str('storage') !== undefined ? resolve(io.cwd, args.str('storage')!) : (config.storage ?? defaultStorage(io));
    const { collectGarbage, parseDuration, RegistryStore, META_DIR } = await server();
    if (!(await fsp.stat(join(storage, META_DIR)).catch(() => undefined))) {
      throw new WharfError('IMAGE_NOT_FOUND', `${storage} is not a wharf registry storage (it has no ${META_DIR}/ folder)`, { hint: "give the folder 'wharf serve --storage' uses" });
    }
    const graceText = args.str('grace');
    let graceMs = config.gc.graceMs;
    try {
      if (graceText !== undefined) graceMs = parseDuration(graceText, '--grace');
    } catch (err) {
      throw new WharfError('USAGE', (err as WharfError).message, { hint: (err as WharfError).hint ?? '' });
    }
    const store = await RegistryStore.open(storage);
    const report = await collectGarbage(store, {
      dryRun: args.bool('dry-run'),
      deleteUntagged: args.bool('delete-untagged') || config.gc.deleteUntagged,
      graceMs,
      uploadExpiryMs: config.gc.uploadExpiryMs,
      signal: ctx.signal,
    });
    if (args.bool('json')) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return 0;
    }
    const verb = report.dryRun ? 'would remove' : 'removed';
    for (const m of report.manifests) io.stdout.write(`${verb} untagged manifest ${m.repository}@${m.digest}\n`);
    for (const b of report.blobs) io.stdout.write(`${verb} blob ${b.repository}@${b.digest} (${humanSize(b.size)})\n`);
    for (const r of report.skipped) io.stdout.write(`skipped ${r}: a manifest in it cannot be read, so nothing there was removed\n`);
    io.stdout.write(
      `${report.dryRun ? 'Dry run: would free' : 'Freed'} ${humanSize(report.bytesFreed)} (${count(report.freed.length, 'blob')}) in ${count(report.repositories, 'repository', 'repositories')}; ` +
        `${count(report.manifests.length, 'untagged manifest')}, ${count(report.uploads, 'abandoned upload')}; ${report.keptYoung} kept as younger than the grace period\n`,
    );
    return 0;
  },
};
