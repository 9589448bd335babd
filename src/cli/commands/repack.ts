import { resolve } from 'node:path';
import { repackImage, type RepackOptions } from '../../filesystem/repack.js';
import type { Compression } from '../../oci/media-types.js';
import { parsePlatform } from '../../oci/platform.js';
import { usageError } from '../args.js';
import { humanSize } from '../format.js';
import { ProgressRenderer } from '../progress.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';

const COMPRESSIONS: readonly Compression[] = ['gzip', 'zstd', 'none'];

export const repackCommand: Command = {
  name: 'repack',
  summary: 'Add the changes made in an unpacked directory to its image, as a new layer',
  usage: '[--base REF] [--created-by TEXT] [--comment TEXT] [--compress gzip|zstd|none] [--full-compare] [--allow-empty] [--platform os/arch[/variant]] [--json] [-q] [registry flags] DIR IMAGE',
  description: `
What 'umoci repack' does, without the mtree file: DIR (what 'wharf unpack' wrote, or the bundle of
'wharf unpack --bundle') is compared with the image it came from — the image's tar headers against an lstat walk
of DIR, as 'wharf diff' does — and everything added or changed goes into one new layer, with a whiteout for
everything removed. The image gains the layer, a history entry (--created-by, default "wharf repack";
--comment) and a new created time; IMAGE is written (for oci:DIR:TAG the tag moves to the new manifest; the old
one stays in the layout). With --base, DIR is compared with that image and the result written to IMAGE.

A file whose size and modification time are what the image says is taken as unchanged without reading it
(rsync's quick check; an unpack keeps the layers' times); --full-compare hashes those too. As root, owners come
from DIR; rootless, paths the image had keep their owners and new paths are 0:0. Extended attributes are not
read; sockets, devices and fifos are left out with a warning. Nothing changed: nothing is written (exit 0),
unless --allow-empty.

${REGISTRY_HELP}`,
  flags: [
    { name: 'base', type: 'string', placeholder: 'REF', help: 'the image DIR was unpacked from (default: IMAGE)' },
    { name: 'created-by', type: 'string', placeholder: 'TEXT', help: 'the history entry\'s created_by (default "wharf repack")' },
    { name: 'history.created_by', type: 'string', placeholder: 'TEXT', help: 'the same, as umoci spells it' },
    { name: 'comment', type: 'string', placeholder: 'TEXT', help: 'the history entry\'s comment' },
    { name: 'history.comment', type: 'string', placeholder: 'TEXT', help: 'the same, as umoci spells it' },
    { name: 'compress', type: 'string', placeholder: 'gzip|zstd|none', help: 'the new layer\'s compression (default gzip; v2s2 images take gzip only)' },
    { name: 'full-compare', type: 'boolean', help: 'hash files whose size and time are unchanged too' },
    { name: 'allow-empty', type: 'boolean', help: 'write an empty layer when nothing changed' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: 'the image of an index the base is (default: this machine\'s)' },
    { name: 'json', type: 'boolean', help: 'print a summary as JSON' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print nothing but errors' },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 2, max: 2, names: 'a directory and an image' },
  examples: [
    'wharf unpack oci:./layout:v1 ./root && echo hi > ./root/hello && wharf repack ./root oci:./layout:v1',
    'wharf repack --base oci:./layout:v1 --created-by "add hello" ./root oci:./layout:v2',
  ],
  takesReferences: true,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const dir = resolve(io.cwd, args.operands[0]!);
    const dest = lib.parseReference(args.operands[1]!);
    const baseText = args.str('base');
    const base = baseText === undefined ? undefined : lib.parseReference(baseText);
    const compression = args.str('compress');
    if (compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(compression)) {
      throw usageError(`--compress: unknown compression "${compression}"`, `use one of ${COMPRESSIONS.join(', ')}`);
    }
    const registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const quiet = args.bool('quiet') || args.bool('json');
    const isTTY = io.stderr.isTTY === true && io.env.TERM !== 'dumb';
    const renderer = quiet ? undefined : new ProgressRenderer({ out: io.stderr, isTTY, now: ctx.now, ...(io.stderr.columns ? { columns: io.stderr.columns } : {}) });
    const options: RepackOptions = {
      signal: ctx.signal,
      registry,
      isRoot: io.uid === 0,
      fullCompare: args.bool('full-compare'),
      allowEmpty: args.bool('allow-empty'),
      onWarning: (m) => (renderer ? renderer.log(`wharf: warning: ${m}`) : ctx.logger.warn(m)),
      logger: ctx.logger,
    };
    if (base) options.base = base;
    const createdBy = args.str('created-by') ?? args.str('history.created_by');
    if (createdBy !== undefined) options.createdBy = createdBy;
    const comment = args.str('comment') ?? args.str('history.comment');
    if (comment !== undefined) options.comment = comment;
    if (compression !== undefined) options.compression = compression as Compression;
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    if (renderer) options.onEvent = (e) => renderer.handle(e);
    let result;
    try {
      result = await repackImage(dir, dest, options);
    } finally {
      renderer?.finish();
    }
    if (args.bool('json')) {
      io.stdout.write(`${JSON.stringify({ directory: dir, destination: dest.toString(), ...result })}\n`);
    } else if (!quiet) {
      const counts = `${result.added} added, ${result.changed} changed, ${result.removed} removed`;
      io.stderr.write(
        result.written
          ? `Repacked ${dir} into ${dest}: ${counts}; new layer ${result.layer!.digest} (${humanSize(result.layer!.size)}); manifest ${result.digest}\n`
          : `Nothing changed in ${dir}: ${dest} was not written\n`,
      );
    }
    return 0;
  },
};
