import { imageHistory, type HistoryOptions } from '../../history/history.js';
import type { ImageHistoryEntry } from '../../history/types.js';
import { parsePlatform } from '../../oci/platform.js';
import type { ImageReference } from '../../transports/types.js';
import { humanAge, humanSize, sanitizeForTerminal, shortDigest } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, isDockerReference, registryFlags } from '../registry-access.js';
import type { CliLibrary, Command } from '../types.js';

/** The library as the history command calls it: `history` is taken from the library when it has it (tests inject one). */
type HistoryLibrary = CliLibrary & {
  history?(ref: ImageReference | string, options?: HistoryOptions): Promise<ImageHistoryEntry[]>;
};

/** docker's width for CREATED BY (stringutils.Ellipsis(createdBy, 45)). */
export const CREATED_BY_WIDTH = 45;

export interface HistoryTableOptions {
  /** Full digests and full CREATED BY (docker --no-trunc). */
  noTrunc?: boolean;
  /** Ages and human sizes (default); false: RFC 3339 times and sizes in bytes (docker --human=false). */
  human?: boolean;
  /** Milliseconds clock for the ages. */
  now: number;
}

/**
 * A string from the image, made safe for one cell of a table: tabs become spaces (as docker does), line breaks
 * and every terminal control are written as visible escapes, so a cell never moves the cursor or opens a new line.
 */
export function cell(untrusted: string): string {
  const oneLine = untrusted
    .replace(/\t/g, ' ')
    .replace(/\r\n|\r|\n/g, '\\n')
    // Line/paragraph separators and bidirectional overrides reorder or break what follows on some terminals.
    .replace(/[\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return sanitizeForTerminal(oneLine);
}

/** Cut to `width` characters (code points), the last one an ellipsis, as docker's Ellipsis does. */
export function ellipsis(s: string, width: number): string {
  const chars = Array.from(s);
  if (chars.length <= width) return s;
  return chars.slice(0, Math.max(0, width - 1)).join('') + '…';
}

export function historyId(entry: ImageHistoryEntry, noTrunc = false): string {
  if (!entry.id) return '<missing>';
  return noTrunc ? entry.id : shortDigest(entry.id);
}

/** RFC 3339 in UTC to the second, as docker --human=false prints it; an unreadable date as it is. */
function rfc3339(created: string): string {
  const t = Date.parse(created);
  if (Number.isNaN(t)) return created;
  return new Date(Math.floor(t / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

export const SIZE_HEADER = 'SIZE (compressed)';

/** The rows of `docker history`: IMAGE, CREATED, CREATED BY, SIZE, COMMENT (cells already safe to print). */
export function historyRows(entries: readonly ImageHistoryEntry[], options: HistoryTableOptions): string[][] {
  const human = options.human ?? true;
  return entries.map((e) => {
    let created = '<missing>';
    if (e.created !== undefined) created = human ? humanAge(e.created, options.now) || cell(e.created) : cell(rfc3339(e.created));
    const by = e.synthetic ? '<missing>' : cell(e.createdBy ?? '');
    const size = e.size === undefined ? '?' : human ? humanSize(e.size) : String(e.size);
    return [historyId(e, options.noTrunc), created, options.noTrunc ? by : ellipsis(by, CREATED_BY_WIDTH), size, cell(e.comment ?? '')];
  });
}

/**
 * Columns aligned as docker's tabwriter aligns them (cell width + 3 spaces, at least 10), trailing blanks
 * trimmed. SIZE says "(compressed)": docker shows uncompressed sizes, which only reading the layers would tell.
 */
export function historyTable(entries: readonly ImageHistoryEntry[], options: HistoryTableOptions): string {
  const rows = [['IMAGE', 'CREATED', 'CREATED BY', SIZE_HEADER, 'COMMENT'], ...historyRows(entries, options)];
  const len = (s: string): number => Array.from(s).length;
  const widths = rows[0]!.map((_, col) => Math.max(10, ...rows.map((r) => len(r[col]!) + 3)));
  return rows
    .map((r) => r.map((c, col) => (col === r.length - 1 ? c : c + ' '.repeat(widths[col]! - len(c)))).join('').trimEnd() + '\n')
    .join('');
}

/**
 * JSON for scripts: the entries as the library returns them. Characters JSON leaves as they are but terminals
 * act on (C1 controls such as U+009B, a CSI) are escaped too; the value parses back the same.
 */
export function historyJson(entries: readonly ImageHistoryEntry[]): string {
  return (
    JSON.stringify(entries, null, 2).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n'
  );
}

export const historyCommand: Command = {
  name: 'history',
  summary: 'Show the steps that built an image, like docker history, without reading its layers',
  usage: '[--no-trunc] [--json] [--human=false] [-q] [--platform OS/ARCH[/VARIANT]] [registry flags] REFERENCE',
  description: `
Print the history of the image at REFERENCE the way 'docker history' does: one line per step of its config's
history, newest first, with the columns IMAGE, CREATED, CREATED BY, SIZE (compressed) and COMMENT.

Only the manifest and the config are read, never a layer. So SIZE is the size of the layer as the registry or
layout stores it (compressed), as skopeo and crane report it: docker history shows the uncompressed size, which
cannot be known without reading the layer. Steps that made no layer (ENV, CMD, LABEL…: empty_layer) show 0 B.

  IMAGE        the image's manifest digest on the newest line; <missing> on the others, as docker shows them
               (a step of a pulled image is not an image of its own)
  CREATED      how long ago the step ran ("3 years ago"); RFC 3339 with --human=false
  CREATED BY   the command, cut to ${CREATED_BY_WIDTH} characters with "…" unless --no-trunc (prefixes such as
               "/bin/sh -c #(nop) " are kept, as docker keeps them); <missing> when the config has no history
  SIZE         the compressed layer size; in bytes with --human=false; "?" when unknown (schema 1 manifests
               carry no sizes)

When the config has no history, one <missing> line per layer is shown. When its history and the manifest's
layers disagree (more or fewer steps that made a layer than there are layers), a warning says so and every
step and layer is still shown. Schema 1 images show the history their manifest carries.

  --json       the entries as a JSON array: id (the newest only), created, createdBy, comment, author,
               emptyLayer, size (compressed bytes), layer {index, digest, mediaType, size, diffId}, synthetic
  -q, --quiet  only the IMAGE column

When REFERENCE names an index (multi-platform image), the image for this machine's platform is shown, or the
one chosen with --platform. Strings from the image are escaped before they reach the terminal.

${REGISTRY_HELP}`,
  flags: [
    { name: 'no-trunc', type: 'boolean', help: 'do not cut CREATED BY, and print full digests' },
    { name: 'human', short: 'H', type: 'boolean', help: 'ages and sizes for people (default true; --human=false: RFC 3339 times and bytes)' },
    { name: 'quiet', short: 'q', type: 'boolean', help: 'print only the IMAGE column' },
    { name: 'json', type: 'boolean', help: 'print the entries as a JSON array, and errors as JSON on stderr' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: "which image of an index to show (default: this machine's)" },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'REFERENCE' },
  takesReferences: true,
  examples: [
    'wharf history oci:./layout:latest',
    'wharf history --no-trunc docker-archive:app.tar',
    'wharf history --human=false --platform linux/arm64 docker://docker.io/library/debian:bookworm',
    'wharf history --json oci-archive:image.tar | jq -r \'.[] | select(.emptyLayer | not) | .createdBy\'',
    'wharf history -q --no-trunc oci:./layout:latest',
  ],
  async run(ctx) {
    const { args, io } = ctx;
    const lib = ctx.lib as HistoryLibrary;
    const platformSpec = args.str('platform');
    const platform = platformSpec === undefined ? undefined : parsePlatform(platformSpec);
    const ref = lib.parseReference(args.operands[0]!);
    const registry = isDockerReference(ref) ? await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '') : undefined;
    const options: HistoryOptions = {
      signal: ctx.signal,
      logger: ctx.logger,
      ...(platform ? { platform } : {}),
      ...(ctx.tmpDir ? { tmpDir: ctx.tmpDir } : {}),
      ...(registry ? { registry } : {}),
    };
    const entries = await (lib.history ? lib.history(ref, options) : imageHistory(ref, options));
    const noTrunc = args.bool('no-trunc');
    if (args.bool('json')) {
      io.stdout.write(historyJson(entries));
    } else if (args.bool('quiet')) {
      io.stdout.write(entries.map((e) => `${historyId(e, noTrunc)}\n`).join(''));
    } else {
      io.stdout.write(historyTable(entries, { noTrunc, human: args.has('human') ? args.bool('human') : true, now: ctx.now() }));
    }
    return 0;
  },
};
