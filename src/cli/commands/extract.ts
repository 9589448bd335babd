import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { extractImage, normalizeExtractPath, type ExtractOptions, type ExtractResult } from '../../filesystem/extract.js';
import { parsePlatform } from '../../oci/platform.js';
import { usageError } from '../args.js';
import { humanSize } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { Command, OutStream } from '../types.js';

export const extractCommand: Command = {
  name: 'extract',
  summary: 'Extract a few files or folders of an image, reading only the layers that hold them',
  usage: '--path PATH [--path PATH]… --to DIR|- [--layer N] [--platform os/arch[/variant]] [--json] [-q] [registry flags] IMAGE',
  description: `
Write just the given paths of the image's filesystem to DIR, as 'oc image extract' does, without unpacking
the image: a first pass reads the layers' tar headers (no contents) and applies the OCI whiteouts, so it knows
which layer holds the visible version of each path; a second pass reads only the layers that hold the content
of a selected file, and takes only those files from them. A file deleted by a later layer is not there, and an
opaque folder shows only what its own layer and later ones put in it.

A folder path takes everything below it; --path / takes everything. Paths keep their place in the image:
--path /etc/os-release writes DIR/etc/os-release; parent folders are made as plain folders (0755). A path that
is a symlink is written as that symlink, never followed; symlinks among its parents are resolved inside the
image (--path /lib/x with lib -> usr/lib writes DIR/usr/lib/x). A hard link whose target is extracted too stays a
hard link; otherwise it is written as a file with the target's content. Paths with .. are refused.

DIR must not exist or be empty, as for unpack: everything is written into a hidden folder beside it, renamed to
DIR at the end, so an interrupted or failed extract leaves DIR as it was. Nothing is written outside DIR;
device nodes and fifos are skipped with a warning, and so are extended attributes.

--to - writes a tar stream of the selected entries (modes, owners, times, links) to stdout instead, for
'| tar -x' or '| tar -tv'; stdout must not be a terminal. With --json the summary then goes to stderr.

--layer N extracts from one layer alone, as if it were the whole image: its own entries (its whiteouts hide
nothing and never appear). Layers are numbered from 1, the base layer, as 'wharf history' lists them bottom to
top; negative numbers count from the top: --layer -1 is the last layer. With --layer only that layer is read.

A path that is not in the image (or the layer) exits with 3, naming the nearest path that is.

${REGISTRY_HELP}`,
  flags: [
    { name: 'path', type: 'string', repeatable: true, placeholder: 'PATH', help: 'a file or folder in the image to extract (repeatable)' },
    { name: 'to', type: 'string', placeholder: 'DIR|-', help: 'a new or empty directory to write to, or - for a tar stream on stdout' },
    { name: 'layer', type: 'int', placeholder: 'N', help: 'extract from this layer only (1 = the base layer, -1 = the top one)' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: "the image of an index to extract from (default: this machine's)" },
    { name: 'json', type: 'boolean', help: 'print a summary as JSON (on stderr with --to -)' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print nothing but errors' },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'an image' },
  examples: [
    'wharf extract --path /etc/os-release --to ./out oci:./layout:latest',
    'wharf extract --path /etc --path /usr/lib/os-release --to - docker://docker.io/library/debian:12 | tar -tv',
    'wharf extract --layer -1 --path /opt/app --to ./app oci:./layout:latest',
  ],
  takesReferences: true,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const paths = args.list('path');
    if (paths.length === 0) throw usageError("'wharf extract' needs at least one --path", 'e.g. --path /etc/os-release (a folder takes everything below it; / takes everything)');
    for (const p of paths) normalizeExtractPath(p); // `..` and the like are usage errors before anything is opened
    const to = args.str('to');
    if (to === undefined || to === '') throw usageError("'wharf extract' needs --to", 'give a new or empty directory, or - for a tar stream on stdout');
    const toStdout = to === '-';
    if (toStdout && io.stdout.isTTY) {
      throw usageError('refusing to write a tar stream to a terminal', "redirect stdout to a file or a pipe (… --to - | tar -tv), or give --to DIR");
    }
    const ref = lib.parseReference(args.operands[0]!);
    const registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const json = args.bool('json');
    const quiet = args.bool('quiet') || json;
    const options: ExtractOptions = {
      signal: ctx.signal,
      registry,
      logger: ctx.logger,
      isRoot: io.uid === 0,
      onWarning: (m) => ctx.logger.warn(m),
    };
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    const layer = args.int('layer');
    if (layer !== undefined) options.layer = layer;
    if (!quiet) {
      options.onLayer = (phase, i, n, digest, size) => {
        const verb = phase === 'scan' ? 'Read headers of' : 'Extracting from';
        io.stderr.write(`${verb} layer ${i + 1}/${n} ${digest} (${humanSize(size)})\n`);
      };
    }
    const target = toStdout ? undefined : resolve(io.cwd, to);
    const result = await extractImage(ref, paths, target ?? outStreamWritable(io.stdout), options);
    if (json) {
      (toStdout ? io.stderr : io.stdout).write(`${JSON.stringify(summary(ref.toString(), result))}\n`);
    } else if (!quiet) {
      io.stderr.write(`${describe(result)}\n`);
    }
    return 0;
  },
};

function summary(image: string, r: ExtractResult): Record<string, unknown> {
  return {
    image,
    to: r.target,
    paths: r.paths,
    layers: r.layers,
    layersRead: r.layersRead,
    entries: r.entries,
    files: r.files,
    bytes: r.bytes,
    links: r.links,
    skipped: r.skipped,
  };
}

function describe(r: ExtractResult): string {
  const read = r.layersRead.length === 0 ? 'no layer content needed' : `content from layer${r.layersRead.length === 1 ? '' : 's'} ${r.layersRead.map((l) => l.layer).join(', ')} of ${r.layers}`;
  const skipped = Object.entries(r.skipped).map(([k, v]) => `${v} ${k}`).join(', ');
  const where = r.target === '-' ? 'to stdout' : `into ${r.target}`;
  return `Extracted ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} (${r.files} files, ${humanSize(r.bytes)}) ${where}; ${read}${skipped ? `; skipped ${skipped}` : ''}`;
}

/** The CLI's stdout as a Writable for the tar writer, with its backpressure when it has any ('drain'). */
function outStreamWritable(out: OutStream): Writable {
  const emitter = out as OutStream & { once?: (event: string, listener: () => void) => unknown };
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      let ok: unknown;
      try {
        ok = out.write(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      if (ok === false && typeof emitter.once === 'function') emitter.once('drain', () => callback());
      else callback();
    },
  });
}
