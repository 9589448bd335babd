import { resolve } from 'node:path';
import { unpackImage } from '../../filesystem/unpack.js';
import { parsePlatform } from '../../oci/platform.js';
import { humanSize } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';

export const unpackCommand: Command = {
  name: 'unpack',
  summary: "Unpack an image's root filesystem into a directory (or an OCI runtime bundle)",
  usage: '[--bundle] [--platform os/arch[/variant]] [--json] [registry flags] IMAGE DIR',
  description: `
Apply the image's layers to DIR, as 'umoci unpack --rootless' does: OCI whiteouts (a .wh. file removes what
lower layers put there, an opaque directory hides all of it), hard links, symlinks, modes and times; owners when
running as root. Every layer is verified as it streams (its digest, and its uncompressed digest against the
config), and nothing is ever written outside DIR: paths with .. are refused, symlinks among a path's parents are
followed inside DIR only, hard links must point at a file inside it. Device nodes and fifos are skipped with a
warning (rootless). Extended attributes are applied with setfattr (the attr package; without it, a warning);
rootless, owners are recorded in the user.rootlesscontainers xattr as umoci does, and security.* and trusted.*
xattrs are skipped with a warning.

DIR must not exist or be empty. The layers are applied in a hidden folder beside it, renamed to DIR at the end:
an interrupted or failed unpack leaves no DIR, and the next run clears what it left.

With --bundle, DIR holds rootfs/ and a config.json made from the image config (args = Entrypoint + Cmd, env,
working directory, the user resolved in the image's own /etc/passwd), which 'runc run -b DIR NAME' starts.

${REGISTRY_HELP}`,
  flags: [
    { name: 'bundle', type: 'boolean', help: 'write an OCI runtime bundle: DIR/rootfs and DIR/config.json' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: 'the image of an index to unpack (default: this machine\'s)' },
    { name: 'json', type: 'boolean', help: 'print a summary as JSON' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print nothing but errors' },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 2, max: 2, names: 'an image and a directory' },
  examples: [
    'wharf unpack oci:./layout:latest ./rootfs',
    'wharf unpack --bundle docker://docker.io/library/alpine:3.20 ./alpine && runc run -b ./alpine demo',
  ],
  takesReferences: true,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const ref = lib.parseReference(args.operands[0]!);
    const target = resolve(io.cwd, args.operands[1]!);
    const registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    const quiet = args.bool('quiet') || args.bool('json');
    const options: Parameters<typeof unpackImage>[2] = {
      signal: ctx.signal,
      registry,
      logger: ctx.logger,
      bundle: args.bool('bundle'),
      isRoot: io.uid === 0,
      onWarning: (m) => ctx.logger.warn(m),
    };
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    if (!quiet) options.onLayer = (i, n, digest, size) => void io.stderr.write(`Unpacking layer ${i + 1}/${n} ${digest} (${humanSize(size)})\n`);
    const result = await unpackImage(ref, target, options);
    if (args.bool('json')) {
      io.stdout.write(`${JSON.stringify({ target, rootfs: result.rootfs, layers: result.layers, entries: result.entries, files: result.files, bytes: result.bytes, xattrs: result.xattrs ?? 0, skipped: result.skipped })}\n`);
    } else if (!quiet) {
      const skipped = Object.entries(result.skipped).map(([k, v]) => `${v} ${k}`).join(', ');
      io.stderr.write(`Unpacked ${result.layers} layers into ${result.rootfs}: ${result.files} files, ${humanSize(result.bytes)}${skipped ? `; skipped ${skipped}` : ''}\n`);
    }
    return 0;
  },
};
