import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { DIFF_REASONS, diffImages, type DiffOptions, type DiffReason, type DiffResult, type DiffSide } from '../../filesystem/diff.js';
import { parsePlatform } from '../../oci/platform.js';
import { defaultTransports } from '../../transports/index.js';
import { usageError } from '../args.js';
import { sanitizeForTerminal } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, registryFlags } from '../registry-access.js';
import type { CliLibrary, Command } from '../types.js';

/** Other spellings `--ignore` takes for a reason. */
const REASON_ALIASES: Record<string, DiffReason> = {
  link: 'link target',
  'link-target': 'link target',
  linktarget: 'link target',
  target: 'link target',
  mtime: 'time',
  perms: 'mode',
  sha256: 'content',
  digest: 'content',
};

/** `--ignore time,uid --ignore gid` → the reasons, checked. */
export function parseIgnore(values: readonly string[]): DiffReason[] {
  const out = new Set<DiffReason>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const word = raw.trim().toLowerCase();
      if (word === '') continue;
      const reason = (DIFF_REASONS as readonly string[]).includes(word) ? (word as DiffReason) : REASON_ALIASES[word];
      if (!reason) throw usageError(`--ignore: unknown reason "${sanitizeForTerminal(raw)}"`, `reasons: ${DIFF_REASONS.map((r) => (r === 'link target' ? 'link' : r)).join(', ')}`);
      out.add(reason);
    }
  }
  return [...out];
}

/**
 * An operand is an image when it starts with a known transport's `NAME:` (oci:, docker://, …); otherwise it must
 * be an existing directory. (A directory whose name looks like a reference is written ./oci:dir.)
 */
export async function diffOperand(operand: string, cwd: string, lib: Pick<CliLibrary, 'parseReference'>, warn: (m: string) => void): Promise<DiffSide> {
  const colon = operand.indexOf(':');
  if (colon > 0 && defaultTransports().names().includes(operand.slice(0, colon))) return { kind: 'image', ref: lib.parseReference(operand) };
  const path = resolve(cwd, operand);
  const st = await fsp.stat(path).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw usageError(
      `"${sanitizeForTerminal(operand)}" is neither an image reference nor a directory`,
      `write an image as TRANSPORT:LOCATION (transports: ${defaultTransports().names().join(', ')}), e.g. oci:./layout:latest; a directory must exist`,
    );
  }
  const layout = await Promise.all([fsp.stat(join(path, 'oci-layout')), fsp.stat(join(path, 'index.json'))]).then(() => true, () => false);
  if (layout) warn(`${operand} is an OCI image layout, compared here as a plain directory; for the image it holds, write oci:${operand}:TAG`);
  return { kind: 'dir', path };
}

/** atomic diff's text: a section per kind of difference, five-space indents, reasons in parentheses. */
export function diffText(result: DiffResult, nameA: string, nameB: string): string {
  const a = sanitizeForTerminal(nameA);
  const b = sanitizeForTerminal(nameB);
  if (result.onlyInA.length === 0 && result.onlyInB.length === 0 && result.different.length === 0) {
    return `There are no file differences between ${a} and ${b}\n`;
  }
  const sections: string[] = [];
  const list = (paths: readonly string[]): string => paths.map((p) => `     ${shownPath(p)}\n`).join('');
  if (result.onlyInA.length > 0) sections.push(`Files only in ${a}:\n${list(result.onlyInA)}`);
  if (result.onlyInB.length > 0) sections.push(`Files only in ${b}:\n${list(result.onlyInB)}`);
  if (result.different.length > 0) {
    sections.push(`Common files that are different: (reason)\n${result.different.map((d) => `     ${shownPath(d.path)} (${d.reasons.join(', ')})\n`).join('')}`);
  }
  return sections.join('\n');
}

/** A path from an image, safe on one terminal line. */
function shownPath(p: string): string {
  return sanitizeForTerminal(p.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t'));
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'Compare the filesystems of two images or directories: files only in one, files that differ and why',
  usage: '[--ignore REASON[,REASON…]] [--dir-times] [--json] [--exit-code] [-q] [--platform os/arch[/variant]] [registry flags] A B',
  description: `
Compare two root filesystems, as 'atomic diff' does, without unpacking either. A and B are each an image
reference (an operand starting with a transport: oci:DIR:TAG, docker://…, docker-archive:…) or a directory (an
unpacked image, or the root filesystem of a container that ran; write ./NAME for a directory whose name starts
like a reference).

An image is read from its layers' tar headers, OCI whiteouts and opaque directories applied (a file deleted in
B's layers is "only in A"). A path in both is compared by type, size, mode, uid, gid, symlink target, device
numbers and modification time; contents are hashed only where both are regular files of the same size, and a
file that both images take from the same entry of the same layer blob is equal without being read. That second
read touches only the layers holding those files, and only their bytes; a directory is walked with lstat, never
following a symlink and never opening anything but the regular files it must hash.

Reasons, in the order printed: type, size, content (same size, other bytes), mode (permission bits and
setuid/setgid/sticky; not compared for symlinks), uid, gid, link target, device, time (whole seconds). Another
type is reported alone, not with the mode and owner that come with it. A hard link in a layer is compared as
the file it links to. Directory times are left out unless --dir-times: they change with every child added or
removed, and layers re-emit parent directories with new times, so they repeat what the lists already say. A
directory an image implies without naming it has no time to compare. Extended attributes are not compared.

Output: "Files only in A:", "Files only in B:" (a directory with everything below it) and "Common files that
are different: (reason)", paths with a leading /. --json prints {"onlyInA": [...], "onlyInB": [...],
"different": [{"path": ..., "reasons": [...]}]}.

Exit status: 0 whether or not the trees differ, as atomic diff; with --exit-code (or -q), 1 when they differ
and 0 when they do not, as 'git diff --exit-code' — a failure then exits with 1 too, with an error on stderr, or
with 2-5 as listed below.

${REGISTRY_HELP}`,
  flags: [
    { name: 'ignore', type: 'string', repeatable: true, placeholder: 'REASON[,REASON…]', help: `do not report these reasons (${DIFF_REASONS.map((r) => (r === 'link target' ? 'link' : r)).join(', ')}); a path that differs only by them is not listed` },
    { name: 'dir-times', type: 'boolean', help: 'compare the modification times of directories too' },
    { name: 'json', type: 'boolean', help: 'print {onlyInA, onlyInB, different: [{path, reasons}]} as JSON' },
    { name: 'exit-code', type: 'boolean', help: 'exit with 1 when the trees differ, 0 when they do not' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print nothing; implies --exit-code' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: "the image of an index to compare (default: this machine's)" },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 2, max: 2, names: 'two images or directories' },
  examples: [
    'wharf diff oci:./layout:v1 oci:./layout:v2',
    'wharf diff --ignore time,uid,gid docker://docker.io/library/debian:bookworm ./rootfs',
    'wharf diff --json oci:./base:latest oci:./app:latest | jq .different',
    'wharf diff -q oci:./a:latest oci:./b:latest || echo "they differ"',
  ],
  takesReferences: true,
  async run(ctx) {
    const { args, io, lib } = ctx;
    const ignore = parseIgnore(args.list('ignore'));
    const warn = (m: string): void => ctx.logger.warn(m);
    const [nameA, nameB] = [args.operands[0]!, args.operands[1]!];
    const a = await diffOperand(nameA, io.cwd, lib, warn);
    const b = await diffOperand(nameB, io.cwd, lib, warn);
    const options: DiffOptions = { signal: ctx.signal, logger: ctx.logger, ignore, directoryTimes: args.bool('dir-times'), onWarning: warn };
    if (a.kind === 'image' || b.kind === 'image') options.registry = await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '');
    if (ctx.tmpDir) options.tmpDir = ctx.tmpDir;
    const platform = args.str('platform');
    if (platform !== undefined) options.platform = parsePlatform(platform);
    const started = ctx.now();
    const result = await diffImages(a, b, options);
    const s = result.stats;
    ctx.logger.debug?.(
      `diff: ${s.a.paths} and ${s.b.paths} paths in ${ctx.now() - started} ms; headers of ${s.a.headerReads}+${s.b.headerReads} layers; ` +
        `${s.candidates} same-size files, ${s.sameLayer} equal by layer, hashed ${s.a.hashedFiles}+${s.b.hashedFiles} ` +
        `(content layers A [${s.a.contentLayers.join(',')}], B [${s.b.contentLayers.join(',')}])`,
    );
    const quiet = args.bool('quiet');
    if (args.bool('json') && !quiet) {
      io.stdout.write(`${JSON.stringify({ onlyInA: result.onlyInA, onlyInB: result.onlyInB, different: result.different }, null, 2)}\n`);
    } else if (!quiet) {
      io.stdout.write(diffText(result, nameA, nameB));
    }
    const differ = result.onlyInA.length + result.onlyInB.length + result.different.length > 0;
    return differ && (quiet || args.bool('exit-code')) ? 1 : 0;
  },
};
