import {
  analyzeLayers,
  evaluateCi,
  imageTreeRows,
  layerTreeRows,
  type CiResult,
  type CiThresholds,
  type ChangedItem,
  type LayerItem,
  type LayerReport,
  type LayersAnalysis,
  type LayersOptions,
  type RemovedItem,
  type TreeRow,
} from '../../filesystem/layers.js';
import type { LayerEntry } from '../../layer/types.js';
import { parsePlatform } from '../../oci/platform.js';
import { usageError } from '../args.js';
import { humanSize } from '../format.js';
import { REGISTRY_HELP, RETRY_TIMES_FLAG, RegistrySetup, isDockerReference, registryFlags } from '../registry-access.js';
import type { Command } from '../types.js';
import { cell } from './history.js';

export const DEFAULT_LOWEST_EFFICIENCY = 0.9;
export const DEFAULT_HIGHEST_USER_WASTED_PERCENT = 0.1;
export const DEFAULT_LIMIT = 20;

const UNIT: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 2 ** 10,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mi: 2 ** 20,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gi: 2 ** 30,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

/**
 * A size as dive's .dive-ci writes it (go-humanize): `20MB` is 20·10⁶ bytes, `1.5GiB` is 1.5·2³⁰, a bare number
 * is bytes; case and a space before the unit do not matter. Undefined for `disabled`. Rounded to a whole byte.
 */
export function parseByteSize(raw: string, flag = '--highest-wasted-bytes'): number | undefined {
  const s = raw.trim();
  if (s.toLowerCase() === 'disabled') return undefined;
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i.exec(s);
  const unit = m ? UNIT[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw usageError(`invalid value "${raw}" for ${flag}: expected a size`, 'write bytes (1048576), or a number and a unit: 20MB (10^6), 1.5GiB (2^30), KB/KiB, MB/MiB, GB/GiB, TB/TiB; or "disabled"');
  }
  return Math.round(Number(m[1]) * unit);
}

/** A ratio 0..1 (`0.9`), or undefined for `disabled`. */
export function parseRatio(raw: string, flag: string): number | undefined {
  const s = raw.trim();
  if (s.toLowerCase() === 'disabled') return undefined;
  const v = /^(\d+(?:\.\d*)?|\.\d+)$/.test(s) ? Number(s) : Number.NaN;
  if (!(v >= 0 && v <= 1)) throw usageError(`invalid value "${raw}" for ${flag}: expected a ratio between 0 and 1`, `for example ${flag} 0.9 (90 %), or "disabled"`);
  return v;
}

const num = (n: number): string => n.toLocaleString('en-US');
const pct = (r: number | null): string => (r === null ? '∞ %' : `${(r * 100).toFixed(4)} %`);
const ratio = (r: number | null): string => (r === null ? '∞' : String(Number(r.toFixed(6))));

/** How a path is written in lists and trees: a directory with a trailing `/`, links with their target. */
function shown(path: string, type: LayerEntry['type'], linkname?: string): string {
  let s = cell(path);
  if (type === 'dir' && path !== '/') s += '/';
  if (type === 'symlink') s += ` -> ${cell(linkname ?? '')}`;
  if (type === 'hardlink') s += ` link to ${cell(linkname ?? '')}`;
  return s;
}

type Listed = { mark: '+'; item: LayerItem } | { mark: '~'; item: ChangedItem } | { mark: '-'; item: RemovedItem };

/** A layer's changes as one list in path order, dive's marks in front. */
function layerLines(report: LayerReport, limit: number): string[] {
  const all: Listed[] = [
    ...report.added.map((item) => ({ mark: '+' as const, item })),
    ...report.changed.map((item) => ({ mark: '~' as const, item })),
    ...report.removed.map((item) => ({ mark: '-' as const, item })),
  ].sort((a, b) => (a.item.path < b.item.path ? -1 : a.item.path > b.item.path ? 1 : 0));
  const lines: string[] = [];
  const take = limit > 0 ? all.slice(0, limit) : all;
  for (const l of take) {
    const size = l.item.type === 'file' ? humanSize(l.item.size) : '';
    let note = '';
    if (l.mark === '~') {
      const c = l.item;
      const what = c.differs.length > 0 ? c.differs.join(', ') : 'same header';
      note = `  (over layer ${c.before.layer}${c.before.type !== c.type ? ` ${c.before.type}` : ''}: ${what})`;
    } else if (l.mark === '-') {
      note = `  (from layer ${l.item.layer})`;
    } else if ('implicit' in l.item && l.item.implicit) {
      note = '  (implied)';
    }
    const link = l.mark === '-' ? undefined : (l.item as LayerItem).linkname;
    lines.push(`  ${l.mark} ${size.padStart(10)}  ${shown(l.item.path, l.item.type, link)}${note}`);
  }
  if (take.length < all.length) lines.push(`  … and ${num(all.length - take.length)} more (--layer ${report.layer} lists them all)`);
  return lines;
}

function layerSection(report: LayerReport, count: number, limit: number): string {
  const lines = [`Layer ${report.layer}/${count}  ${report.digest}`];
  lines.push(`  size:        ${report.compressedSize >= 0 ? humanSize(report.compressedSize) : '?'} compressed, ${humanSize(report.bytes)} of files`);
  if (report.createdBy !== undefined) lines.push(`  created by:  ${cell(report.createdBy)}`);
  if (report.comment) lines.push(`  comment:     ${cell(report.comment)}`);
  lines.push(
    `  changes:     ${num(report.added.length)} added (${humanSize(report.addedBytes)}), ${num(report.changed.length)} changed (${humanSize(report.changedBytes)}), ` +
      `${num(report.removed.length)} removed (${humanSize(report.removedBytes)})`,
  );
  lines.push(...layerLines(report, limit));
  return lines.join('\n') + '\n';
}

function efficiencySection(a: LayersAnalysis, limit: number): string {
  const e = a.efficiency;
  const user = a.layers.length > 1 ? `layers 2-${a.layers.length}` : 'no layer above the base';
  const lines = [
    'Efficiency',
    `  total image size:        ${humanSize(e.totalBytes)} (${num(e.totalBytes)} bytes of files in ${a.layers.length} layer${a.layers.length === 1 ? '' : 's'})`,
    `  potential wasted space:  ${humanSize(e.wastedBytes)} (${num(e.wastedBytes)} bytes)`,
    `  image efficiency score:  ${pct(e.efficiency)}`,
    `  user wasted percent:     ${pct(e.userWastedRatio)} (of ${humanSize(e.userBytes)} in ${user})`,
    '',
  ];
  const list = limit > 0 ? a.inefficient.slice(0, limit) : a.inefficient;
  lines.push(a.inefficient.length === 0 ? 'Inefficient files: none' : `Inefficient files (${list.length < a.inefficient.length ? `top ${list.length} of ` : ''}${num(a.inefficient.length)}):`);
  if (list.length > 0) {
    lines.push(`  ${'COPIES'.padStart(6)}  ${'WASTED'.padStart(10)}  PATH`);
    for (const p of list) {
      const where = p.inFinalImage ? '' : p.removedIn !== undefined ? `  (removed in layer ${p.removedIn})` : '  (not in the final image)';
      lines.push(`  ${String(p.copies).padStart(6)}  ${humanSize(p.wastedBytes).padStart(10)}  ${cell(p.path)}  (layer${p.layers.length === 1 ? '' : 's'} ${p.layers.join(', ')})${where}`);
    }
  }
  return lines.join('\n') + '\n';
}

const RULE_TEXT: Record<string, (v: string, t: string) => string> = {
  'lowest-efficiency': (v, t) => `efficiency ${v} (lowest allowed ${t})`,
  'highest-wasted-bytes': (v, t) => `wasted bytes ${v} (highest allowed ${t})`,
  'highest-user-wasted-percent': (v, t) => `user wasted ratio ${v} (highest allowed ${t})`,
};

function ciSection(ci: CiResult): string {
  const lines = ['CI rules'];
  for (const r of ci.rules) {
    const value = r.rule === 'highest-wasted-bytes' ? `${num(r.value!)}` : ratio(r.value);
    const threshold = r.threshold === undefined ? 'disabled' : r.rule === 'highest-wasted-bytes' ? num(r.threshold) : ratio(r.threshold);
    const text = r.status === 'skip' ? `disabled (${RULE_TEXT[r.rule]!(value, '').replace(/ \(.*$/, '')})` : RULE_TEXT[r.rule]!(value, threshold);
    lines.push(`  ${r.status.toUpperCase().padEnd(4)}  ${r.rule}: ${text}`);
  }
  const n = (s: string): number => ci.rules.filter((r) => r.status === s).length;
  lines.push(`Result: ${ci.passed ? 'PASS' : 'FAIL'} (${n('pass')} passed, ${n('fail')} failed, ${n('skip')} skipped)`);
  return lines.join('\n') + '\n';
}

/** Tree rows as lines of text: MARK LAYER SIZE and the tree drawn with connectors, as `tree` draws it. */
export function* treeLines(rows: Iterable<TreeRow>, layers: number): Generator<string> {
  const width = Math.max(5, String(layers).length);
  yield `  ${'LAYER'.padStart(width)}  ${'SIZE'.padStart(10)}  PATH\n`;
  for (const r of rows) {
    let prefix = '';
    for (let i = 0; i < r.depth - 1; i++) prefix += r.lastAt[i] ? '    ' : '│   ';
    if (r.depth > 0) prefix += r.lastAt[r.depth - 1] ? '└── ' : '├── ';
    const layer = r.depth === 0 || r.layer === 0 ? '' : String(r.layer);
    yield `${r.mark ?? ' '} ${layer.padStart(width)}  ${humanSize(r.size).padStart(10)}  ${prefix}${shown(r.depth === 0 ? '/' : r.name, r.type, r.linkname)}\n`;
  }
}

export function renderTree(rows: Iterable<TreeRow>, layers: number): string {
  return [...treeLines(rows, layers)].join('');
}

/** Write a long text in pieces, so a tree of a large image is never one huge string. */
function writeLines(out: { write(s: string): unknown }, lines: Iterable<string>): void {
  let buf = '';
  for (const line of lines) {
    buf += line;
    if (buf.length >= 1 << 16) {
      out.write(buf);
      buf = '';
    }
  }
  if (buf) out.write(buf);
}

const CHANGE = { '+': 'added', '~': 'changed', '-': 'removed' } as const;

/** JSON for scripts; C1 controls and line separators escaped too, so a terminal never acts on them. */
function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

export const layersCommand: Command = {
  name: 'layers',
  summary: 'Show what each layer added, changed and removed, and how much of the image is wasted (like dive)',
  usage: '[--tree] [--layer N] [--limit N] [--ci [--lowest-efficiency F] [--highest-wasted-bytes SIZE] [--highest-user-wasted-percent F]] [--json] [--platform OS/ARCH[/VARIANT]] [registry flags] IMAGE',
  description: `
What dive shows, without a daemon: every layer's tar headers are read (never a file's content, nothing is
written to disk), the OCI whiteouts applied, and for each layer, bottom (1, the base) to top, its digest, its
compressed size, the bytes of its files, the history step that made it ("created by", paired with the layers as
'wharf history' pairs them), and the paths it changed:

  +  added     the path was not in the layers below
  ~  changed   the layer wrote the path again (its header says what differs: type, size, mode, owner, link,
               mtime, xattrs; "same header" when only content of the same size can differ); a path the layer's
               whiteouts removed and its own entries wrote again is changed, not removed and added
  -  removed   a whiteout or an opaque directory of the layer removed it (a removed directory lists every path
               below it)

By default each layer lists its first ${DEFAULT_LIMIT} changes in path order (--limit N, 0 for all); --layer N
shows only layer N, all of its changes (1 is the base layer, -1 the top one, as 'wharf extract --layer' counts).

--tree shows the image's final filesystem as a tree: per path its size (a directory's: the bytes of the files
below it), the layer that last touched it, and + when that layer added it, ~ when it changed it. With
--layer N, the tree shows only what layer N changed (+ ~ -, dive's layer view), with the directories above them
unmarked for context; sizes are that layer's versions (a removed path: the version removed; a directory: the
bytes the layer wrote below it).

Efficiency, as dive reports it but with wasted bytes counted once per extra copy (wagoodman/dive#684):
  total image size        the sum, over the layers, of the bytes of the regular files each holds
  potential wasted space  for every path, the bytes of all its versions but the one the image shows: a path
                          written in 3 layers wastes 2 versions; a path removed later wastes every version it had;
                          so wasted = total - the bytes of the files the final image shows
  image efficiency score  1 - wasted / total (100 % for an image without file bytes)
  user wasted percent     wasted / the file bytes of every layer but the base, as dive's userWastedPercent
                          (a ratio, 0.1 = 10 %); infinite when bytes are wasted but the layers above the base add
                          none
dive scores efficiency as if the smallest version of each path were kept, and its wasted bytes (before the fix
for #684) count the kept copy too, so its score and its wasted bytes disagree; here both come from the version
the image shows (wasted = total - final, efficiency = final / total). Hard links count 0 bytes, as tar stores
them. "Inefficient files" lists the paths with wasted bytes, most first: how many layers wrote the path
(COPIES), the bytes wasted, the layers, and whether the final image still has it.

--ci checks the image against dive's three rules instead of listing layers, prints each PASS, FAIL or SKIP,
and exits 1 when any rule fails (0 when all pass or are skipped):
  --lowest-efficiency F            fails when the efficiency score < F (0..1; default ${DEFAULT_LOWEST_EFFICIENCY}, as dive's)
  --highest-wasted-bytes SIZE      fails when wasted bytes > SIZE: bytes, or 20MB (10^6), 1.5GiB (2^30) as
                                   .dive-ci writes sizes (default: disabled)
  --highest-user-wasted-percent F  fails when the user wasted ratio > F (0..1; default ${DEFAULT_HIGHEST_USER_WASTED_PERCENT}, as dive's)
Any of them may be "disabled". A figure equal to its threshold passes. Thresholds without --ci, --ci with
--tree or --layer, and malformed values are usage errors (exit 2).

--json prints everything as one JSON object: reference; layers [{layer, digest, mediaType, compressedSize,
diffId, created, createdBy, comment, bytes, addedBytes, changedBytes, removedBytes, added [{path, type, size,
linkname, implicit}], changed [{…, before {layer, type, size}, differs}], removed [{path, type, size, layer}]}]
(only layer N with --layer); efficiency {totalBytes, finalBytes, wastedBytes, userBytes, userWastedRatio (null
when infinite), efficiency}; inefficient [{path, copies, layers, bytes, wastedBytes, inFinalImage, removedIn}]
(all of them); with --tree, tree [{path, type, size, linkname, layer, change}]; with --ci, ci {passed, rules
[{rule, status, value, threshold}]}. Paths are absolute; layers are numbered from 1.

Only headers are held in memory, never a file's content. Strings from the image (paths, link targets, history)
are escaped before they reach the terminal. When IMAGE names an index, the image for this machine's platform is
read, or the one chosen with --platform.

${REGISTRY_HELP}`,
  flags: [
    { name: 'tree', type: 'boolean', help: 'show the filesystem as a tree (with --layer N: only what layer N changed)' },
    { name: 'layer', type: 'int', placeholder: 'N', help: 'only layer N (1 = the base layer, -1 = the top one)' },
    { name: 'limit', type: 'int', placeholder: 'N', help: `changes listed per layer and inefficient files listed (default ${DEFAULT_LIMIT}; 0: all)` },
    { name: 'ci', type: 'boolean', help: 'check the efficiency rules; exit 1 when one fails' },
    { name: 'lowest-efficiency', type: 'string', placeholder: 'F', help: `--ci: fail below this efficiency (0..1, default ${DEFAULT_LOWEST_EFFICIENCY})` },
    { name: 'highest-wasted-bytes', type: 'string', placeholder: 'SIZE', help: '--ci: fail above this many wasted bytes (20MB, 1.5GiB, bytes; default disabled)' },
    { name: 'highest-user-wasted-percent', type: 'string', placeholder: 'F', help: `--ci: fail above this user wasted ratio (0..1, default ${DEFAULT_HIGHEST_USER_WASTED_PERCENT})` },
    { name: 'json', type: 'boolean', help: 'print everything as JSON, and errors as JSON on stderr' },
    { name: 'platform', type: 'string', placeholder: 'OS/ARCH[/VARIANT]', help: "which image of an index to read (default: this machine's)" },
    ...registryFlags(''),
    RETRY_TIMES_FLAG,
  ],
  operands: { min: 1, max: 1, names: 'IMAGE' },
  takesReferences: true,
  examples: [
    'wharf layers oci:./layout:latest',
    'wharf layers --tree oci:./layout:latest',
    'wharf layers --tree --layer -1 docker-archive:app.tar',
    'wharf layers --ci --lowest-efficiency 0.95 --highest-wasted-bytes 20MB oci:./layout:latest',
    "wharf layers --json oci:./layout:latest | jq '.efficiency'",
  ],
  async run(ctx) {
    const { args, io, lib } = ctx;
    const ci = args.bool('ci');
    const thresholdFlags = ['lowest-efficiency', 'highest-wasted-bytes', 'highest-user-wasted-percent'];
    const given = thresholdFlags.filter((f) => args.has(f));
    if (!ci && given.length > 0) throw usageError(`--${given[0]} applies only with --ci`, `add --ci to check the image against the rules`);
    if (ci && (args.bool('tree') || args.has('layer'))) throw usageError('--ci checks the whole image: it takes neither --tree nor --layer');
    const thresholds: CiThresholds = {};
    const lowest = parseRatio(args.str('lowest-efficiency') ?? String(DEFAULT_LOWEST_EFFICIENCY), '--lowest-efficiency');
    if (lowest !== undefined) thresholds.lowestEfficiency = lowest;
    const wasted = parseByteSize(args.str('highest-wasted-bytes') ?? 'disabled');
    if (wasted !== undefined) thresholds.highestWastedBytes = wasted;
    const user = parseRatio(args.str('highest-user-wasted-percent') ?? String(DEFAULT_HIGHEST_USER_WASTED_PERCENT), '--highest-user-wasted-percent');
    if (user !== undefined) thresholds.highestUserWastedPercent = user;
    const limitFlag = args.int('limit');
    if (limitFlag !== undefined && limitFlag < 0) throw usageError(`invalid value "${limitFlag}" for --limit: expected 0 (all) or more`);
    const layerFlag = args.int('layer');
    if (layerFlag === 0) throw usageError('--layer 0 names no layer', 'layers are numbered from 1 (the base layer); -1 is the top one');
    const platformSpec = args.str('platform');
    const platform = platformSpec === undefined ? undefined : parsePlatform(platformSpec);

    const ref = lib.parseReference(args.operands[0]!);
    const registry = isDockerReference(ref) ? await new RegistrySetup(io, ctx.signal, `wharf/${lib.VERSION}`).access(args, '') : undefined;
    const options: LayersOptions = {
      signal: ctx.signal,
      logger: ctx.logger,
      onWarning: (m) => ctx.logger.warn(m),
      ...(platform ? { platform } : {}),
      ...(ctx.tmpDir ? { tmpDir: ctx.tmpDir } : {}),
      ...(registry ? { registry } : {}),
    };
    const analysis = await analyzeLayers(ref, options);
    const count = analysis.layers.length;
    let selected: LayerReport | undefined;
    if (layerFlag !== undefined) {
      const index = layerFlag > 0 ? layerFlag - 1 : count + layerFlag;
      selected = analysis.layers[index];
      if (!selected || index < 0) throw usageError(`--layer ${layerFlag}: the image has ${count} layer${count === 1 ? '' : 's'}`, `use 1 to ${count}, or -1 to -${count} from the top`);
    }
    const result = ci ? evaluateCi(analysis.efficiency, thresholds) : undefined;

    if (args.bool('json')) {
      const out: Record<string, unknown> = {
        reference: analysis.reference,
        layers: selected ? [selected] : analysis.layers,
        efficiency: analysis.efficiency,
        inefficient: analysis.inefficient,
      };
      if (args.bool('tree')) {
        out.tree = Array.from(selected ? layerTreeRows(selected) : imageTreeRows(analysis), (r) => ({
          path: r.path,
          type: r.type,
          size: r.size,
          ...(r.linkname !== undefined ? { linkname: r.linkname } : {}),
          layer: r.layer,
          ...(r.mark ? { change: CHANGE[r.mark] } : {}),
        }));
      }
      if (result) out.ci = result;
      io.stdout.write(safeJson(out));
    } else if (result) {
      io.stdout.write(`Image: ${cell(analysis.reference)} (${count} layer${count === 1 ? '' : 's'})\n\n`);
      io.stdout.write(efficiencySection(analysis, limitFlag ?? DEFAULT_LIMIT) + '\n' + ciSection(result));
    } else if (args.bool('tree')) {
      if (selected) {
        io.stdout.write(`Layer ${selected.layer}/${count}  ${selected.digest}: ${num(selected.added.length)} added, ${num(selected.changed.length)} changed, ${num(selected.removed.length)} removed\n`);
        writeLines(io.stdout, treeLines(layerTreeRows(selected), count));
      } else {
        writeLines(io.stdout, treeLines(imageTreeRows(analysis), count));
      }
    } else if (selected) {
      io.stdout.write(layerSection(selected, count, limitFlag ?? 0));
    } else {
      const limit = limitFlag ?? DEFAULT_LIMIT;
      io.stdout.write(`Image: ${cell(analysis.reference)} (${count} layer${count === 1 ? '' : 's'})\n\n`);
      for (const l of analysis.layers) io.stdout.write(layerSection(l, count, limit) + '\n');
      io.stdout.write(efficiencySection(analysis, limit));
    }
    return result && !result.passed ? 1 : 0;
  },
};
