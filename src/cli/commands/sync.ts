import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import type { ManifestFormat } from '../../oci/media-types.js';
import type { SyncEvent, SyncFailure, SyncOptions, SyncResult } from '../../sync/index.js';
import { usageError } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { humanSize, sanitizeForTerminal } from '../format.js';
import { ProgressRenderer } from '../progress.js';
import { REGISTRY_HELP, RegistrySetup, twoSidedRegistryFlags } from '../registry-access.js';
import type { Command, CommandContext } from '../types.js';

const SOURCES = ['docker', 'dir', 'oci', 'yaml'] as const;
const DESTINATIONS = ['docker', 'dir', 'oci'] as const;

function errorJson(error: WharfError): { code: string; message: string; hint?: string } {
  return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
}

/** The `--json` document: the SyncResult, with errors as {code, message, hint}. */
export function syncResultJson(result: SyncResult, dryRun: boolean): string {
  const failed = result.failed.map((f: SyncFailure) => ({ ...f.item, error: errorJson(f.error) }));
  return JSON.stringify({ dryRun, planned: result.planned, copied: result.copied, failed, bytesWritten: result.bytesWritten }, null, 2) + '\n';
}

/** "Synced 12 images (3 failed), 45.6 MiB written in 3.2 s". */
export function syncSummary(counts: { copied: number; failed: number; planned: number; bytes: number; dryRun: boolean; repositoriesFailed: number }, ms: number): string {
  const images = (n: number): string => `${n} image${n === 1 ? '' : 's'}`;
  const repos = counts.repositoriesFailed > 0 ? `; ${counts.repositoriesFailed} repositor${counts.repositoriesFailed === 1 ? 'y' : 'ies'} could not be listed` : '';
  if (counts.dryRun) return `Dry run: ${images(counts.planned)} would be synced${repos}`;
  const failed = counts.failed > 0 ? ` (${counts.failed} failed)` : '';
  const rest = counts.planned - counts.copied - counts.failed;
  const skipped = rest > 0 ? `, ${rest} not attempted` : '';
  return `Synced ${images(counts.copied)}${failed}${skipped}, ${humanSize(counts.bytes)} written in ${(ms / 1000).toFixed(1)} s${repos}`;
}

export const syncCommand: Command = {
  name: 'sync',
  summary: 'Copy every image of a repository, a directory or a sync YAML file to a registry or a directory',
  usage: '--src docker|dir|oci|yaml --dest docker|dir|oci [flags] SOURCE DESTINATION',
  description: `
Copy all the images found at SOURCE to DESTINATION, as 'skopeo sync' does. The transports are given apart from
the locations, so that a registry (DESTINATION "registry.example.com:5000") is never mistaken for an image.

  --src docker   SOURCE is a repository (registry.example.com/team/app: every tag) or one image (…/app:1.0)
  --src dir      SOURCE is a directory of dir: images, as --dest dir writes them (or one dir: image)
  --src oci      SOURCE is an OCI layout (every named image) or a directory of layouts, as --dest oci writes them
  --src yaml     SOURCE is a skopeo sync YAML file: per registry, images (tags or digests, or every tag),
                 images-by-tag-regex, images-by-semver, credentials, tls-verify, cert-dir
  --dest docker  DESTINATION is registry[/namespace]: each image goes to DESTINATION/NAME:TAG
  --dest dir     DESTINATION is a directory: one dir: image per NAME:TAG
  --dest oci     DESTINATION is a directory: one OCI layout per repository, one image in it per tag

NAME is the last part of the source repository; with --scoped it is the full source name (registry and path
included), so repositories with the same last part do not collide. Sync to a directory and back is the air-gap
path: 'wharf sync --src docker --dest dir REG/app /media/usb', then 'wharf sync --src dir --dest docker
/media/usb OTHER-REG/ns'.

Several images are copied at once (--parallel, default 4). Stderr gets a line per image (and progress bars on a
terminal), then a summary: "Synced 12 images (3 failed), 45.6 MiB written in 3.2 s". With --json the result
({dryRun, planned, copied, failed, bytesWritten}) is printed on stdout. Without --keep-going the first failure
stops the sync (copies in flight are abandoned and leave their destinations as they were); with it, every image
is tried and the exit code is 1 if any failed.

${REGISTRY_HELP}`,
  flags: [
    { name: 'src', short: 's', type: 'string', placeholder: 'TRANSPORT', choices: SOURCES, help: 'source transport (required)' },
    { name: 'dest', short: 'd', type: 'string', placeholder: 'TRANSPORT', choices: DESTINATIONS, help: 'destination transport (required)' },
    { name: 'scoped', type: 'boolean', help: 'name images at DESTINATION by their full source name, not its last part' },
    { name: 'append-suffix', type: 'string', placeholder: 'SUFFIX', help: 'append SUFFIX to every destination tag' },
    { name: 'all', short: 'a', type: 'boolean', help: 'copy whole indexes (every platform), not only this machine\'s image' },
    { name: 'format', short: 'f', type: 'string', placeholder: 'FORMAT', choices: ['oci', 'v2s2', 'v2s1'], help: 'manifest format to write (default: the source\'s; v2s1 is not supported)' },
    { name: 'dry-run', type: 'boolean', help: 'list what would be copied, copy nothing' },
    { name: 'keep-going', type: 'boolean', help: 'go on after a failure, report every failure at the end' },
    { name: 'parallel', type: 'int', placeholder: 'N', help: 'images copied at once (default 4)' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print only errors and the summary' },
    { name: 'json', type: 'boolean', help: 'print the result as JSON on stdout, and errors as JSON on stderr' },
    ...twoSidedRegistryFlags(),
  ],
  operands: { min: 2, max: 2, names: 'SOURCE and DESTINATION' },
  examples: [
    'wharf sync --src docker --dest dir registry.example.com/busybox /media/usb',
    'wharf sync --src dir --dest docker --dest-tls-verify=false /media/usb localhost:5000/mirror',
    'wharf sync --src yaml --dest docker --keep-going sync.yml registry.local:5000/mirror',
    'wharf sync --dry-run --scoped --src docker --dest oci quay.io/podman/stable ./layouts',
  ],
  takesReferences: false,
  async run(ctx) {
    const { args, io } = ctx;
    const src = args.str('src') as SyncOptions['src'] | undefined;
    const dest = args.str('dest') as SyncOptions['dest'] | undefined;
    if (src === undefined || dest === undefined) {
      throw usageError(`'wharf sync' needs ${src === undefined ? '--src' : '--dest'} TRANSPORT`, `e.g. wharf sync --src docker --dest dir REGISTRY/REPO DIR`);
    }
    const format = args.str('format');
    if (format === 'v2s1') throw usageError('--format v2s1 is not supported: wharf writes oci or v2s2 manifests');
    const parallel = args.int('parallel');
    if (parallel !== undefined && (parallel < 1 || parallel > 64)) throw usageError(`invalid --parallel ${parallel}`, 'give a number from 1 to 64');

    const local = (t: string, p: string): string => (t === 'docker' ? p : resolve(io.cwd, p));
    const setup = new RegistrySetup(io, ctx.signal, `wharf/${ctx.lib.VERSION}`);
    const sourceRegistry = src === 'docker' || src === 'yaml' ? await setup.access(args, 'src-') : undefined;
    const destinationRegistry = dest === 'docker' ? await setup.access(args, 'dest-') : undefined;
    const dryRun = args.bool('dry-run');
    const suffix = args.str('append-suffix');

    const reporter = new SyncReporter(ctx, args.bool('quiet'));
    const options: SyncOptions = {
      src,
      dest,
      source: local(src, args.operands[0]!),
      destination: local(dest, args.operands[1]!),
      signal: ctx.signal,
      logger: reporter.logger,
      onEvent: (e) => reporter.handle(e),
      copy: {
        ...(format ? { format: format as ManifestFormat } : {}),
        ...(ctx.tmpDir ? { tmpDir: ctx.tmpDir } : {}),
      },
      ...(args.bool('scoped') ? { scoped: true } : {}),
      ...(args.bool('all') ? { all: true } : {}),
      ...(dryRun ? { dryRun: true } : {}),
      ...(args.bool('keep-going') ? { keepGoing: true } : {}),
      ...(parallel !== undefined ? { parallel } : {}),
      ...(suffix !== undefined ? { appendSuffix: suffix } : {}),
      ...(sourceRegistry ? { sourceRegistry } : {}),
      ...(destinationRegistry ? { destinationRegistry } : {}),
    };
    const started = ctx.now();
    let result: SyncResult;
    try {
      result = await (ctx.lib.sync ?? (await import('../../sync/index.js')).sync)(options);
    } catch (err) {
      // The first failure stopped the sync: say how far it got (if it got to copying) before the error is reported.
      const sofar = reporter.counts();
      reporter.finish(sofar.planned > 0 ? syncSummary({ ...sofar, dryRun }, ctx.now() - started) : undefined);
      throw err;
    }
    const counts = {
      copied: result.copied.length,
      failed: result.failed.filter((f) => !reporter.isRepository(f)).length,
      repositoriesFailed: result.failed.filter((f) => reporter.isRepository(f)).length,
      planned: result.planned.length,
      bytes: result.bytesWritten,
      dryRun,
    };
    reporter.finish(syncSummary(counts, ctx.now() - started));
    if (args.bool('json')) io.stdout.write(syncResultJson(result, dryRun));
    return result.failed.length > 0 ? ExitCode.FAILED : ExitCode.OK;
  },
};

/**
 * SyncEvents → stderr: a line per image (started images only on a terminal, where bars show their blobs), the
 * plan in a dry run, failures as they happen, and the summary.
 */
class SyncReporter {
  private readonly tty: boolean;
  private readonly renderer: ProgressRenderer | undefined;
  private readonly repositories = new Set<string>();
  private done = 0;
  private failed = 0;
  private planned = 0;
  private bytes = 0;
  readonly logger: { warn(m: string): void; debug(m: string): void };

  constructor(
    private readonly ctx: CommandContext,
    private readonly quiet: boolean,
  ) {
    const { io } = ctx;
    this.tty = io.stderr.isTTY === true && io.env.TERM !== 'dumb';
    this.renderer = this.tty && !quiet ? new ProgressRenderer({ out: io.stderr, isTTY: true, now: ctx.now, ...(io.stderr.columns ? { columns: io.stderr.columns } : {}) }) : undefined;
    this.logger = {
      warn: (m) => this.line(`wharf: warning: ${m}`),
      debug: (m) => {
        if (ctx.debug) this.line(`wharf: debug: ${m}`);
      },
    };
  }

  isRepository(f: SyncFailure): boolean {
    return this.repositories.has(f.item.source);
  }

  counts(): { copied: number; failed: number; planned: number; bytes: number; repositoriesFailed: number } {
    return { copied: this.done, failed: this.failed, planned: this.planned, bytes: this.bytes, repositoriesFailed: this.repositories.size };
  }

  handle(e: SyncEvent): void {
    const pos = (x: { index: number; total: number }): string => `[${x.index + 1}/${x.total}]`;
    switch (e.type) {
      case 'plan':
        this.planned = e.images;
        if (e.dryRun && !this.quiet) for (const item of e.items) this.line(`Would copy ${item.source} to ${item.destination}`);
        return;
      case 'image-start':
        if (!this.quiet) this.line(`Copying ${pos(e)} ${e.item.source} to ${e.item.destination}`);
        return;
      case 'image-done':
        this.done++;
        this.bytes += e.bytesWritten;
        if (!this.quiet) this.line(`Copied ${pos(e)} ${e.item.destination} ${e.digest} (${humanSize(e.bytesWritten)} written, ${e.blobsSkipped} blob${e.blobsSkipped === 1 ? '' : 's'} already there)`);
        return;
      case 'image-failed':
        // Copies abandoned because another image failed first are not failures of their own.
        if (e.error.code === 'ABORTED') return;
        this.failed++;
        this.line(`Failed ${pos(e)} ${e.item.source}: ${e.error.message}`);
        return;
      case 'repository-failed':
        this.repositories.add(e.repository);
        this.line(`Failed to list the tags of ${e.repository}: ${e.error.message}`);
        return;
      default:
        // The copy's own events: blob bars on a terminal; elsewhere the per-image lines are enough.
        if (this.renderer && (e.type === 'blob-start' || e.type === 'blob-progress' || e.type === 'blob-done' || e.type === 'blob-skipped')) {
          this.renderer.handle(e);
        }
    }
  }

  finish(summary: string | undefined): void {
    this.renderer?.finish();
    if (summary !== undefined) this.ctx.io.stderr.write(`${summary}\n`);
  }

  private line(text: string): void {
    const clean = sanitizeForTerminal(text);
    if (this.renderer) this.renderer.log(clean);
    else this.ctx.io.stderr.write(`${clean}\n`);
  }
}
