/**
 * `wharf layers`: what dive shows, without a daemon and from tar headers alone. Per layer, what it added, changed
 * and removed (with sizes, its compressed size, digest and the history step that made it); the image's
 * filesystem with, per path, the layer that last touched it; and dive's efficiency figures, with wasted bytes
 * counted once per extra copy (dive counts the copy you keep too: wagoodman/dive#684).
 *
 * Definitions (the CLI help repeats them):
 *
 * - A path's *versions* are the entries layers wrote at it (after symlinked parents are resolved, as the tree
 *   resolves them; a tar naming a path twice in one layer counts once, the last, as the tree applies it).
 * - total bytes = the sum, over every layer, of the sizes of the regular files it holds (dive's "total image
 *   size"); final bytes = the sizes of the regular files the image finally shows.
 * - A path's wasted bytes = the bytes of all its versions but the one the image shows: for a path written in
 *   several layers, every earlier version; for a path removed later (a whiteout, an opaque directory, a
 *   directory replaced by something else), every version it had. Summed over paths, wasted = total − final.
 * - efficiency = final / total = 1 − wasted / total (1 for an image without file bytes).
 * - user wasted ratio = wasted / the file bytes of every layer but the first (dive's userWastedPercent, a ratio
 *   despite its name); 0 when nothing is wasted, null (infinite) when bytes are wasted but the layers above the
 *   base add none.
 *
 * dive computes efficiency as Σ smallest version / Σ all versions over paths, and (before #684's fix) its wasted
 * bytes as the sum of every version of a path seen more than once, the kept one included. Here the kept version is
 * the one the image shows, not the smallest one, so wasted bytes and efficiency always agree.
 */
import type { Digest } from '../digest/index.js';
import { FileTree, type FileNode, type LayerChanges } from '../layer/file-tree.js';
import type { LayerEntry } from '../layer/types.js';
import { whiteoutOf } from '../layer/whiteout.js';
import { alignHistory } from '../history/history.js';
import type { ImageReference } from '../transports/types.js';
import { openImage } from './image-layers.js';
import { readLayer, type ReadLayersOptions } from './image-tree.js';

export type LayersOptions = ReadLayersOptions;

/** A path as a layer wrote it. Paths are absolute (`/etc/passwd`), the root is `/`. */
export interface LayerItem {
  path: string;
  type: LayerEntry['type'];
  /** Bytes of content of this layer's version (regular files; 0 for everything else). */
  size: number;
  /** Symlink target, or the path a hard link points at. */
  linkname?: string;
  /** A directory no entry of the layer named: a parent implied by a deeper path (or an opaque marker). */
  implicit?: true;
}

/** What a header says differs between two versions of a path (content of equal size is not compared). */
export type HeaderChange = 'type' | 'size' | 'mode' | 'owner' | 'link' | 'mtime' | 'xattrs' | 'device';

/** A path the layer wrote again: it was there, from a lower layer. */
export interface ChangedItem extends LayerItem {
  /** The version it replaced: the layer (1-based; 0 for a directory no layer named) that had put it there. */
  before: { layer: number; type: LayerEntry['type']; size: number };
  /** What the headers say changed; empty when only the content (of the same size) can have changed. */
  differs: HeaderChange[];
}

/** A path the layer's whiteouts removed (a removed directory lists each of its paths). */
export interface RemovedItem {
  path: string;
  type: LayerEntry['type'];
  size: number;
  /** The layer (1-based; 0 for a directory no layer named) whose version was removed. */
  layer: number;
}

export interface LayerReport {
  /** 1 is the base layer, as `wharf history` lists them bottom to top and `wharf extract --layer` counts them. */
  layer: number;
  digest: Digest;
  mediaType: string;
  /** The blob's size as stored (compressed), from the manifest; -1 when it does not say. */
  compressedSize: number;
  diffId?: Digest;
  /** The history step that made the layer (aligned as `wharf history` aligns them). */
  created?: string;
  createdBy?: string;
  comment?: string;
  /** Bytes of regular-file content the layer holds. */
  bytes: number;
  added: LayerItem[];
  changed: ChangedItem[];
  removed: RemovedItem[];
  /** File bytes of the added paths, of the changed paths' new versions, and of the removed paths. */
  addedBytes: number;
  changedBytes: number;
  removedBytes: number;
}

export interface Efficiency {
  /** Σ over layers of the file bytes each holds. */
  totalBytes: number;
  /** File bytes the final filesystem shows. */
  finalBytes: number;
  /** totalBytes − finalBytes: every version of a path but the one the image shows. */
  wastedBytes: number;
  /** Σ over every layer but the first of its file bytes. */
  userBytes: number;
  /** wastedBytes / userBytes; null when bytes are wasted but userBytes is 0. */
  userWastedRatio: number | null;
  /** finalBytes / totalBytes (1 when totalBytes is 0). */
  efficiency: number;
}

/** A path with wasted bytes: dive's "Inefficient files". */
export interface InefficientPath {
  path: string;
  /** How many layers wrote the path (the kept version included). */
  copies: number;
  /** Those layers, 1-based, bottom to top. */
  layers: number[];
  /** Σ of the file bytes of every version. */
  bytes: number;
  /** Every version's bytes but the kept one's; all of them when the path is not in the final image. */
  wastedBytes: number;
  /** Whether the image finally shows the path's last version. */
  inFinalImage: boolean;
  /** The layer (1-based) whose whiteout removed it, when one did. */
  removedIn?: number;
}

export interface LayersAnalysis {
  reference: string;
  layers: LayerReport[];
  efficiency: Efficiency;
  /** Paths with wasted bytes, most wasted first (then by path). */
  inefficient: InefficientPath[];
  /** The final filesystem (headers only). */
  tree: FileTree;
}

interface Version {
  layer: number;
  entry: LayerEntry;
}

const abs = (p: string): string => `/${p}`;
const fileBytes = (e: LayerEntry): number => (e.type === 'file' ? e.size : 0);

/** Read every layer's headers (never a body) and describe what each did, and the image's efficiency. */
export async function analyzeLayers(ref: ImageReference, options: LayersOptions = {}): Promise<LayersAnalysis> {
  // Every version of every path, bottom to top: headers only, as the tree holds them. The tree is built as
  // imageTree builds it (each layer's headers, verified as they stream, then applied whole), with each layer
  // read as FileTree.applyLayer reads it just before it is applied: whiteouts are not versions, parents that are
  // symlinks resolve against the layers below, and the last entry for a path wins.
  const versions = new Map<string, Version[]>();
  const image = await openImage(ref, options);
  const tree = new FileTree();
  try {
    for (let index = 0; index < image.layers.length; index++) {
      const entries: LayerEntry[] = [];
      await readLayer(image, index, async (it) => {
        for await (const { entry } of it) entries.push(entry);
      }, options);
      const own = new Map<string, LayerEntry>();
      for (const e of entries) {
        if (whiteoutOf(e)) continue;
        const path = tree.resolveParents(e.path, false);
        if (path !== '') own.set(path, e);
      }
      for (const [path, entry] of own) {
        const list = versions.get(path);
        if (list) list.push({ layer: index, entry });
        else versions.set(path, [{ layer: index, entry }]);
      }
      tree.applyLayer(entries, whiteoutOf);
    }

    const history = alignHistory(image.config, image.layers, `${image.source.reference}`, options.logger);
    const steps = new Map(history.filter((h) => h.layer).map((h) => [h.layer!.index, h]));
    const versionAt = (path: string, layer: number): LayerEntry | undefined => versions.get(path)?.find((v) => v.layer === layer)?.entry;

    const layers: LayerReport[] = tree.layers.map((changes, index) => {
      const d = image.layers[index]!;
      const report: Partial<LayerReport> = { layer: index + 1, digest: d.digest, mediaType: d.mediaType, compressedSize: d.size };
      const diffId = image.diffIds[index];
      const step = steps.get(index);
      if (diffId) report.diffId = diffId;
      if (step?.created !== undefined) report.created = step.created;
      if (step?.createdBy !== undefined) report.createdBy = step.createdBy;
      if (step?.comment !== undefined) report.comment = step.comment;
      return { ...(report as LayerReport), ...describeLayer(changes, (p) => versionAt(p, index)) };
    });

    // Where a whiteout last removed each path (for the inefficient list's "removed in layer N").
    const removedIn = new Map<string, number>();
    for (const r of layers) for (const item of r.removed) removedIn.set(item.path, r.layer);

    const inefficient: InefficientPath[] = [];
    for (const [path, list] of versions) {
      let bytes = 0;
      for (const v of list) bytes += fileBytes(v.entry);
      if (bytes === 0) continue;
      const last = list[list.length - 1]!;
      const node = tree.get(path);
      const shown = node !== undefined && !node.implicit && node.layer === last.layer;
      const kept = shown ? fileBytes(node.entry) : 0;
      if (bytes - kept <= 0) continue;
      const item: InefficientPath = { path: abs(path), copies: list.length, layers: list.map((v) => v.layer + 1), bytes, wastedBytes: bytes - kept, inFinalImage: shown };
      const by = removedIn.get(abs(path));
      if (!shown && by !== undefined && by > last.layer + 1) item.removedIn = by;
      inefficient.push(item);
    }
    inefficient.sort((a, b) => b.wastedBytes - a.wastedBytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    let totalBytes = 0;
    let userBytes = 0;
    for (const c of tree.layers) {
      totalBytes += c.bytes;
      if (c.layer > 0) userBytes += c.bytes;
    }
    let finalBytes = 0;
    for (const path of tree.paths()) finalBytes += fileBytes(tree.get(path)!.entry);
    const wastedBytes = totalBytes - finalBytes;
    const efficiency: Efficiency = {
      totalBytes,
      finalBytes,
      wastedBytes,
      userBytes,
      userWastedRatio: userBytes > 0 ? wastedBytes / userBytes : wastedBytes === 0 ? 0 : null,
      efficiency: totalBytes > 0 ? finalBytes / totalBytes : 1,
    };
    return { reference: `${image.source.reference}`, layers, efficiency, inefficient, tree };
  } finally {
    await image.close();
  }
}

type Described = Pick<LayerReport, 'bytes' | 'added' | 'changed' | 'removed' | 'addedBytes' | 'changedBytes' | 'removedBytes'>;

/**
 * A layer's changes as FileTree recorded them, in the terms dive uses. A path the layer's whiteouts (or opaque
 * marker) removed and its own entries wrote again was replaced, not removed and added: it is listed as changed.
 */
function describeLayer(changes: LayerChanges, own: (path: string) => LayerEntry | undefined): Described {
  const removedNow = new Map<string, FileNode>();
  for (const r of changes.removed) removedNow.set(r.path, r.before);
  const rewritten = new Set<string>();
  const item = (path: string): LayerItem => {
    const e = own(path);
    if (!e) return { path: abs(path), type: 'dir', size: 0, implicit: true };
    const it: LayerItem = { path: abs(path), type: e.type, size: fileBytes(e) };
    if (e.linkname !== undefined && (e.type === 'symlink' || e.type === 'hardlink')) it.linkname = e.linkname;
    return it;
  };
  const changedItem = (path: string, before: FileNode): ChangedItem => {
    const now = item(path);
    const e = own(path);
    return { ...now, before: { layer: before.layer + 1, type: before.entry.type, size: fileBytes(before.entry) }, differs: headerChanges(before, e) };
  };
  const added: LayerItem[] = [];
  const changed: ChangedItem[] = [];
  for (const path of changes.added) {
    const before = removedNow.get(path);
    if (before) {
      rewritten.add(path);
      changed.push(changedItem(path, before));
    } else {
      added.push(item(path));
    }
  }
  for (const c of changes.changed) changed.push(changedItem(c.path, c.before));
  const removed: RemovedItem[] = [];
  for (const r of changes.removed) {
    if (rewritten.has(r.path)) continue;
    removed.push({ path: abs(r.path), type: r.before.entry.type, size: fileBytes(r.before.entry), layer: r.before.layer + 1 });
  }
  const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  added.sort(byPath);
  changed.sort(byPath);
  removed.sort(byPath);
  const sum = (xs: readonly { size: number }[]): number => xs.reduce((n, x) => n + x.size, 0);
  return { bytes: changes.bytes, addedBytes: sum(added), changedBytes: sum(changed), removedBytes: sum(removed), added, changed, removed };
}

/** What differs between the version a layer replaced and its own (a directory no entry named has no header). */
function headerChanges(before: FileNode, after: LayerEntry | undefined): HeaderChange[] {
  const a = before.entry;
  // A directory no entry named has no header of its own to compare: only its type is known.
  if (!after || before.implicit) return a.type !== (after?.type ?? 'dir') ? ['type'] : [];
  const out: HeaderChange[] = [];
  if (a.type !== after.type) out.push('type');
  if (a.type === 'file' && after.type === 'file' && a.size !== after.size) out.push('size');
  if (a.mode !== after.mode) out.push('mode');
  if (a.uid !== after.uid || a.gid !== after.gid) out.push('owner');
  if (a.type === after.type && (a.linkname ?? '') !== (after.linkname ?? '')) out.push('link');
  if (a.mtime !== after.mtime) out.push('mtime');
  if (!sameXattrs(a.xattrs, after.xattrs)) out.push('xattrs');
  if (a.type === after.type && (a.devmajor !== after.devmajor || a.devminor !== after.devminor)) out.push('device');
  return out;
}

function sameXattrs(a: Record<string, Buffer> | undefined, b: Record<string, Buffer> | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  if (ka.length !== kb.length) return false;
  return ka.every((k, i) => k === kb[i] && a![k]!.equals(b![k]!));
}

// ---------------------------------------------------------------------------------------------------------
// The tree views

/** How a path stands in a tree view: `+` added, `~` changed (replaced a lower version), `-` removed. */
export type Mark = '+' | '~' | '-';

export interface TreeRow {
  /** Absolute path; `/` for the root. */
  path: string;
  /** Its last component (`/` for the root). */
  name: string;
  depth: number;
  /** For each ancestor level (from the root's children down) whether that ancestor was the last child: the connectors. */
  lastAt: boolean[];
  type: LayerEntry['type'];
  /** A file's bytes; a directory's: the file bytes below it. */
  size: number;
  linkname?: string;
  /** The layer (1-based) of the version shown; 0 when no layer named the path. */
  layer: number;
  mark?: Mark;
}

/** Whether each layer's report lists a path as changed (the rest of what it wrote it added). */
function changedSets(analysis: LayersAnalysis): Set<string>[] {
  return analysis.layers.map((l) => new Set(l.changed.map((c) => c.path)));
}

/**
 * The final filesystem as rows of a tree, depth first in name order, each marked with the layer that last
 * touched it and whether that layer added it or changed it.
 */
export function* imageTreeRows(analysis: LayersAnalysis): Generator<TreeRow> {
  const { tree } = analysis;
  const changed = changedSets(analysis);
  const sizes = new Map<string, number>();
  const sizeOf = (path: string): number => {
    // Iterative post-order: deep trees must not overflow the stack.
    const stack: [string, boolean][] = [[path, false]];
    while (stack.length > 0) {
      const [p, done] = stack.pop()!;
      const node = tree.get(p)!;
      if (node.entry.type !== 'dir') {
        sizes.set(p, fileBytes(node.entry));
        continue;
      }
      const kids = tree.childrenOf(p);
      if (done) {
        sizes.set(p, kids.reduce((n, k) => n + (sizes.get(k) ?? 0), 0));
        continue;
      }
      stack.push([p, true]);
      for (const k of kids) stack.push([k, false]);
    }
    return sizes.get(path) ?? 0;
  };
  sizeOf('');
  // Rows are produced one at a time (the tree of a large image is long): depth first, children in name order.
  const stack: { path: string; depth: number; lastAt: boolean[] }[] = [{ path: '', depth: 0, lastAt: [] }];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    const node = tree.get(cur.path)!;
    const row: TreeRow = {
      path: abs(cur.path),
      name: cur.path === '' ? '/' : cur.path.slice(cur.path.lastIndexOf('/') + 1),
      depth: cur.depth,
      lastAt: cur.lastAt,
      type: node.entry.type,
      size: sizes.get(cur.path) ?? 0,
      layer: node.layer + 1,
    };
    if (node.entry.linkname !== undefined && (node.entry.type === 'symlink' || node.entry.type === 'hardlink')) row.linkname = node.entry.linkname;
    if (cur.path !== '' && node.layer >= 0) row.mark = changed[node.layer]!.has(row.path) ? '~' : '+';
    yield row;
    if (node.entry.type !== 'dir') continue;
    const kids = tree.childrenOf(cur.path);
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ path: kids[i]!, depth: cur.depth + 1, lastAt: [...cur.lastAt, i === kids.length - 1] });
  }
}

/**
 * What one layer did, as a tree (dive's layer view): its added (`+`), changed (`~`) and removed (`-`) paths, with
 * the directories above them that it did not touch shown unmarked for context. Sizes are this layer's versions
 * (a removed path: the version removed); a directory's size is the bytes the layer wrote below it.
 */
export function layerTreeRows(report: LayerReport): TreeRow[] {
  interface Node {
    type: LayerEntry['type'];
    size: number;
    own: number;
    linkname?: string;
    mark?: Mark;
    layer: number;
    kids: Set<string>;
  }
  const nodes = new Map<string, Node>();
  nodes.set('/', { type: 'dir', size: 0, own: 0, layer: 0, kids: new Set() });
  const parent = (p: string): string => {
    const i = p.lastIndexOf('/');
    return i <= 0 ? '/' : p.slice(0, i);
  };
  const ensure = (p: string): Node => {
    let n = nodes.get(p);
    if (n) return n;
    n = { type: 'dir', size: 0, own: 0, layer: 0, kids: new Set() };
    nodes.set(p, n);
    ensure(parent(p)).kids.add(p);
    return n;
  };
  const put = (p: string, fields: Omit<Node, 'kids' | 'size'>): void => {
    const n = ensure(p);
    Object.assign(n, fields);
  };
  for (const a of report.added) put(a.path, { type: a.type, own: a.size, layer: report.layer, mark: '+', ...(a.linkname !== undefined ? { linkname: a.linkname } : {}) });
  for (const c of report.changed) put(c.path, { type: c.type, own: c.size, layer: report.layer, mark: '~', ...(c.linkname !== undefined ? { linkname: c.linkname } : {}) });
  for (const r of report.removed) put(r.path, { type: r.type, own: r.size, layer: r.layer, mark: '-' });
  // A row's size: for a removed path, the bytes removed at and below it; for any other, the bytes the layer
  // wrote at and below it (a directory holding only removed paths shows 0 B).
  const wrote = new Map<string, number>();
  const gone = new Map<string, number>();
  const order: string[] = [];
  const visit: string[] = ['/'];
  while (visit.length > 0) {
    const p = visit.pop()!;
    order.push(p);
    for (const k of nodes.get(p)!.kids) visit.push(k);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const p = order[i]!;
    const n = nodes.get(p)!;
    let w = n.mark === '+' || n.mark === '~' ? n.own : 0;
    let g = n.mark === '-' ? n.own : 0;
    for (const k of n.kids) {
      w += wrote.get(k)!;
      g += gone.get(k)!;
    }
    wrote.set(p, w);
    gone.set(p, g);
    n.size = n.mark === '-' ? g : w;
  }
  const rows: TreeRow[] = [];
  const stack: { path: string; depth: number; lastAt: boolean[] }[] = [{ path: '/', depth: 0, lastAt: [] }];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    const n = nodes.get(cur.path)!;
    const row: TreeRow = { path: cur.path, name: cur.path === '/' ? '/' : cur.path.slice(cur.path.lastIndexOf('/') + 1), depth: cur.depth, lastAt: cur.lastAt, type: n.type, size: n.size, layer: n.layer };
    if (n.linkname !== undefined) row.linkname = n.linkname;
    if (n.mark) row.mark = n.mark;
    rows.push(row);
    const kids = [...n.kids].sort();
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ path: kids[i]!, depth: cur.depth + 1, lastAt: [...cur.lastAt, i === kids.length - 1] });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// CI rules

export type CiRuleName = 'lowest-efficiency' | 'highest-wasted-bytes' | 'highest-user-wasted-percent';

/** Thresholds of `--ci`; an absent one disables its rule. */
export interface CiThresholds {
  /** Fail when efficiency < this (0..1). */
  lowestEfficiency?: number;
  /** Fail when wasted bytes > this. */
  highestWastedBytes?: number;
  /** Fail when the user wasted ratio > this (0..1); an infinite ratio fails any threshold. */
  highestUserWastedPercent?: number;
}

export interface CiRuleResult {
  rule: CiRuleName;
  status: 'pass' | 'fail' | 'skip';
  /** The image's figure (null: the user wasted ratio is infinite). */
  value: number | null;
  threshold?: number;
}

export interface CiResult {
  passed: boolean;
  rules: CiRuleResult[];
}

/** dive's three CI rules, with dive's comparisons: a figure equal to its threshold passes. */
export function evaluateCi(e: Efficiency, t: CiThresholds): CiResult {
  const rule = (name: CiRuleName, value: number | null, threshold: number | undefined, fails: (v: number | null, th: number) => boolean): CiRuleResult => {
    if (threshold === undefined) return { rule: name, status: 'skip', value };
    return { rule: name, status: fails(value, threshold) ? 'fail' : 'pass', value, threshold };
  };
  const rules = [
    rule('lowest-efficiency', e.efficiency, t.lowestEfficiency, (v, th) => v! < th),
    rule('highest-wasted-bytes', e.wastedBytes, t.highestWastedBytes, (v, th) => v! > th),
    rule('highest-user-wasted-percent', e.userWastedRatio, t.highestUserWastedPercent, (v, th) => v === null || v > th),
  ];
  return { passed: rules.every((r) => r.status !== 'fail'), rules };
}
