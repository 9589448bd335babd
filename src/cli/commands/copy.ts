import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CopyOptions } from '../../copy/types.js';
import { WharfError } from '../../errors.js';
import type { Compression, ManifestFormat } from '../../oci/media-types.js';
import { parsePlatform } from '../../oci/platform.js';
import type { ParsedArgs } from '../args.js';
import { usageError } from '../args.js';
import { ProgressRenderer } from '../progress.js';
import { REGISTRY_HELP, RegistrySetup, isDockerReference, twoSidedRegistryFlags } from '../registry-access.js';
import type { Command } from '../types.js';

/** What `wharf copy` flags ask of the copy engine, apart from signal/tmpDir/logger/onEvent. Exported for tests. */
export type CopyFlagOptions = Pick<CopyOptions, 'format' | 'compression' | 'compressionLevel' | 'all' | 'platforms' | 'platform' | 'preserveDigests' | 'additionalTags'>;

/**
 * Flags → CopyOptions:
 *   -f/--format oci|v2s2            → format
 *   --dest-compress-format F        → compression (gzip|zstd|none)
 *   --dest-compress-level N         → compressionLevel (gzip 1-9, zstd 1-22)
 *   --all, --multi-arch all         → all: true; with --platform: platforms (an index of just those)
 *   --multi-arch system (default)   → one image: the host's, or platform: P when --platform P is given once;
 *                                      --platform given more than once → platforms (an index of those)
 */
export function copyOptionsFromFlags(args: ParsedArgs): CopyFlagOptions {
  const opts: CopyFlagOptions = {};
  if (args.bool('preserve-digests')) opts.preserveDigests = true;
  const additionalTags = args.list('additional-tag');
  if (additionalTags.length) opts.additionalTags = additionalTags;
  const format = args.str('format');
  if (format === 'v2s1') {
    throw usageError('--format v2s1 is not supported: wharf writes oci or v2s2 manifests', 'Docker schema 1 is deprecated; wharf reads it but does not write it');
  }
  if (format !== undefined) opts.format = format as ManifestFormat;

  const compression = args.str('dest-compress-format') as Compression | undefined;
  if (compression !== undefined) opts.compression = compression;
  const level = args.int('dest-compress-level');
  if (level !== undefined) {
    if (compression === 'none') {
      throw usageError('--dest-compress-level cannot be used with --dest-compress-format none', 'drop the level, or pick gzip or zstd');
    }
    const max = compression === 'gzip' ? 9 : 22;
    if (level < 1 || level > max) {
      throw usageError(`invalid --dest-compress-level ${level}`, compression === 'gzip' ? 'gzip levels are 1 (fast) to 9 (small)' : 'levels are 1 to 9 for gzip, 1 to 22 for zstd');
    }
    opts.compressionLevel = level;
  }

  const multiArch = args.str('multi-arch');
  if (multiArch === 'index-only') {
    throw usageError('--multi-arch index-only is not supported', 'use --multi-arch all, or --platform to pick images');
  }
  if (args.bool('all') && multiArch === 'system') {
    throw usageError('--all and --multi-arch system contradict each other', 'keep one of them');
  }
  const all = args.bool('all') || multiArch === 'all';
  const platforms = args.list('platform').map(parsePlatform);
  if (all) {
    if (platforms.length > 0) opts.platforms = platforms;
    else opts.all = true;
  } else if (platforms.length === 1) {
    opts.platform = platforms[0]!;
  } else if (platforms.length > 1) {
    opts.platforms = platforms;
  }
  return opts;
}

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy an image between locations, converting format and compression on the way',
  usage: '[flags] SOURCE DESTINATION',
  description: `
Copy the image at SOURCE to DESTINATION. Every blob is verified against its digest as it streams; blobs the
destination already has are skipped; an interrupted copy leaves the destination as it was.

Progress goes to stderr, never stdout: bars on a terminal, one line per blob otherwise, nothing with -q.
With --json, a summary is printed on stdout at the end:
  {"source","destination","digest","mediaType","bytesWritten","blobsCopied","blobsSkipped"}

Multi-platform images (an index): by default the image for this machine is copied (or the one given with
--platform). --all copies the whole index; --all with --platform copies an index of just those platforms;
--platform given more than once does the same.

Registries (docker://) as source, destination or both: blobs the destination registry has are skipped, blobs
in another repository of the same registry are mounted rather than uploaded. Credentials and TLS settings are
given per side (--src-creds, --dest-tls-verify=false, …); --authfile and --tls-verify apply to both sides.

${REGISTRY_HELP}`,
  flags: [
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print nothing but errors' },
    { name: 'format', short: 'f', type: 'string', placeholder: 'FORMAT', choices: ['oci', 'v2s2', 'v2s1'], help: 'manifest format to write (default: the source\'s, if the destination stores it; v2s1 is not supported)' },
    { name: 'dest-compress-format', type: 'string', placeholder: 'FORMAT', choices: ['gzip', 'zstd', 'none'], help: 'recompress layers (default: as the destination needs)' },
    { name: 'dest-compress-level', type: 'int', placeholder: 'LEVEL', help: 'compression level: gzip 1-9 (default 4), zstd 1-22 (default 3)' },
    { name: 'all', short: 'a', type: 'boolean', help: 'copy every image of an index, and the index (= --multi-arch all)' },
    { name: 'multi-arch', type: 'string', placeholder: 'MODE', choices: ['all', 'system', 'index-only'], help: 'images of an index to copy (default system; index-only is not supported)' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', repeatable: true, help: 'image of an index to copy instead of this machine\'s' },
    { name: 'additional-tag', type: 'string', placeholder: 'NAME:TAG', repeatable: true, help: 'also store the image under this name (docker-archive destinations)' },
    { name: 'preserve-digests', type: 'boolean', help: 'fail (leaving the destination as it was) if the copy would change the manifest digest' },
    { name: 'digestfile', type: 'string', placeholder: 'FILE', help: 'write the digest of the copied manifest to FILE (no newline)' },
    { name: 'json', type: 'boolean', help: 'print a JSON summary on stdout, and errors as JSON on stderr' },
    ...twoSidedRegistryFlags(),
  ],
  operands: { min: 2, max: 2, names: 'SOURCE and DESTINATION' },
  takesReferences: true,
  examples: [
    'wharf copy oci:./layout:latest docker-archive:image.tar:example.com/app:latest',
    'wharf copy --format v2s2 oci-archive:image.tar dir:./image',
    'wharf copy --all oci:./mirror:multi oci:./copy:multi',
    'wharf copy -q --digestfile digest.txt --dest-compress-format zstd oci:./a:v1 oci:./b:v1',
    'wharf copy --dest-tls-verify=false oci:./layout:v1 docker://localhost:5000/team/app:v1',
    'wharf copy --src-creds alice --dest-authfile ci-auth.json docker://registry.example.com/app:1 docker://mirror.example.com/app:1',
  ],
  async run(ctx) {
    const { args, io, lib } = ctx;
    const flagOpts = copyOptionsFromFlags(args);
    const src = lib.parseReference(args.operands[0]!);
    const dest = lib.parseReference(args.operands[1]!);
    const setup = new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`);
    const sourceRegistry = isDockerReference(src) ? await setup.access(args, 'src-') : undefined;
    const destinationRegistry = isDockerReference(dest) ? await setup.access(args, 'dest-') : undefined;
    const digestFile = args.str('digestfile');
    const quiet = args.bool('quiet');

    const isTTY = io.stderr.isTTY === true && io.env.TERM !== 'dumb';
    const renderer = quiet
      ? undefined
      : new ProgressRenderer({ out: io.stderr, isTTY, now: ctx.now, ...(io.stderr.columns ? { columns: io.stderr.columns } : {}) });
    const opts: CopyOptions = {
      ...flagOpts,
      ...(sourceRegistry ? { sourceRegistry } : {}),
      ...(destinationRegistry ? { destinationRegistry } : {}),
      signal: ctx.signal,
      logger: {
        warn: (m) => {
          if (renderer) renderer.log(`wharf: warning: ${m}`);
        },
        debug: (m) => {
          if (ctx.debug) (renderer ? renderer.log(`wharf: debug: ${m}`) : io.stderr.write(`wharf: debug: ${m}\n`));
        },
      },
      ...(ctx.tmpDir ? { tmpDir: ctx.tmpDir } : {}),
      ...(renderer ? { onEvent: (e) => renderer.handle(e) } : {}),
    };
    let result;
    try {
      result = await lib.copy(src, dest, opts);
    } finally {
      renderer?.finish();
    }
    if (digestFile !== undefined) {
      try {
        await writeFile(resolve(io.cwd, digestFile), result.digest);
      } catch (err) {
        throw new WharfError('IO_ERROR', `the image was copied, but writing --digestfile ${digestFile} failed: ${(err as Error).message}`, {
          cause: err,
          hint: `the digest is ${result.digest}`,
        });
      }
    }
    if (args.bool('json')) {
      const summary = {
        source: src.toString(),
        destination: dest.toString(),
        digest: result.digest,
        mediaType: result.mediaType,
        bytesWritten: result.bytesWritten,
        blobsCopied: result.blobsCopied,
        blobsSkipped: result.blobsSkipped,
      };
      io.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    }
    return 0;
  },
};
