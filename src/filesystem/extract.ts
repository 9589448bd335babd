/**
 * `wharf extract`: a few files or folders of an image, as `oc image extract` gives them, without unpacking the
 * image and reading only the layers that hold them.
 *
 * Two passes. The first reads every layer's tar headers (no bodies) into a FileTree, with OCI whiteouts applied
 * (imageTree): it says which layer holds the visible version of each selected path and of everything below a
 * selected folder. Directories, symlinks and empty files are then written from their headers alone; the second
 * pass reads only the layers that hold the content of a selected file, and takes from each only those files.
 * Writes to disk go through the Unpacker (never outside the target, O_NOFOLLOW, no devices), into a hidden
 * folder renamed into place at the end; a tar goes out through TarWriter.
 */
import { promises as fsp } from 'node:fs';
import type { Writable } from 'node:stream';
import { TarWriter, type TarWriteOptions } from '../archive/tar.js';
import { WharfError, asWharfError } from '../errors.js';
import { FileTree, type FileNode } from '../layer/file-tree.js';
import type { LayerEntry, LayerEntryWithBody } from '../layer/types.js';
import { Unpacker, type UnpackStats } from '../layer/unpack.js';
import { whiteoutOf } from '../layer/whiteout.js';
import { defaultTransports } from '../transports/index.js';
import type { ImageReference } from '../transports/types.js';
import { openImage, type OpenImageOptions, type OpenedImage } from './image-layers.js';
import { imageTree, readLayer } from './image-tree.js';
import { mustBeFreshTarget, removeLeftovers, stagingPath } from './staged-target.js';

export interface ExtractOptions extends OpenImageOptions {
  /**
   * Extract from this one layer only: its own entries, as if it were the whole image (its whiteouts hide
   * nothing, and never appear). 1 is the base layer, the image's last layer is its layer count; negative
   * numbers count from the top (-1 is the last layer).
   */
  layer?: number;
  /** Whether this process runs as root (then owners are applied on disk). */
  isRoot?: boolean;
  onWarning?: (message: string) => void;
  /**
   * Progress: `scan` as each layer's headers have been read (first pass), `extract` as a layer's content is
   * read (second pass, only the layers that hold selected files). `index` is 0-based, as unpack's.
   */
  onLayer?: (phase: 'scan' | 'extract', index: number, count: number, digest: string, size: number) => void;
}

/** One --path, as found in the image. */
export interface ExtractedPath {
  /** As asked, normalised: `/lib/x`. */
  path: string;
  /** With the symlinks among its parents resolved inside the image: `/usr/lib/x`. Where it is written. */
  resolved: string;
  type: LayerEntry['type'];
  /** The layer (1-based) that holds its visible version; 0 for a directory no entry names (implied by deeper paths). */
  layer: number;
  /** Entries it selects: 1, or for a folder the folder and everything below it. */
  entries: number;
}

export interface ExtractResult extends UnpackStats {
  /** The directory written, or `-` for a tar stream. */
  target: string;
  /** Layers in the image. */
  layers: number;
  /** The layers (1-based) whose content the second pass read, with the files and bytes taken from each. */
  layersRead: { layer: number; files: number; bytes: number }[];
  paths: ExtractedPath[];
  /** Hard links kept as hard links (their target is extracted too). */
  links: number;
}

/**
 * Extract `paths` (absolute or relative to the image root; a folder takes everything below it) from an image
 * into `to`: a directory that must not exist or be empty (staged beside it and renamed at the end, so an
 * interrupted or failed extract leaves it as it was), or a Writable that gets a tar stream of the selected
 * entries with their metadata (ended when the archive is complete).
 *
 * Selected paths keep their place in the image (`/etc/os-release` becomes DIR/etc/os-release); their parent
 * directories are made as plain directories (0755) and are not part of the tar stream. A selected symlink is
 * written as a symlink, never followed; symlinks among a path's parents are resolved inside the image, so
 * `/lib/x` with `lib -> usr/lib` is written at usr/lib/x. A hard link whose target is extracted too stays a
 * hard link; otherwise the target's bytes are written in its place. Devices and fifos are skipped with a
 * warning, as unpack does. A path with a `..` component is USAGE; a path not in the image is PATH_NOT_FOUND.
 */
export async function extractImage(ref: ImageReference | string, paths: readonly string[], to: string | Writable, options: ExtractOptions = {}): Promise<ExtractResult> {
  const reference = typeof ref === 'string' ? defaultTransports().parse(ref) : ref;
  const wanted = paths.map(normalizeExtractPath);
  if (wanted.length === 0) throw new WharfError('USAGE', 'nothing to extract: no path given', { hint: 'give at least one path, e.g. --path /etc/os-release' });
  if (options.layer !== undefined && (!Number.isInteger(options.layer) || options.layer === 0)) {
    throw new WharfError('USAGE', `invalid layer ${String(options.layer)}`, { hint: 'layers are numbered from 1 (the base layer); -1 is the top layer' });
  }
  if (typeof to === 'string') {
    await mustBeFreshTarget(to, 'extract into a new or empty directory (or --to - for a tar stream)');
    await removeLeftovers(to, 'extract');
  }

  const scan = await scanImage(reference, options);
  const { image } = scan;
  try {
    const plan = planExtract(scan, wanted, options);
    if (typeof to === 'string') return await extractToDirectory(image, plan, to, options);
    return await extractToTar(image, plan, to, options);
  } finally {
    await image.close();
  }
}

/**
 * A --path as a path in the image (LayerEntry.path form: no leading or trailing `/`; the root is ''). `..` is
 * refused rather than resolved: `/etc/../../x` means nothing in an image and usually means a mistake.
 */
export function normalizeExtractPath(path: string): string {
  if (path === '') throw new WharfError('USAGE', 'an empty path', { hint: 'give a path in the image, e.g. /etc/os-release (or / for everything)' });
  if (path.includes('\0')) throw new WharfError('USAGE', `the path ${JSON.stringify(path)} contains a NUL byte`);
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new WharfError('USAGE', `the path ${JSON.stringify(path)} has a ".." component`, { hint: 'give the path as it is in the image, from its root, without ..' });
    }
    out.push(part);
  }
  return out.join('/');
}

// ---------------------------------------------------------------------------------------------------------
// First pass: the header-only tree, and what the second pass needs to find the right entries

interface Scan {
  image: OpenedImage;
  tree: FileTree;
  /** The image index of the tree's layer 0 (the --layer one, or 0). */
  offset: number;
  /** For entries whose path went through a symlinked parent when their layer was applied: raw path → resolved, by image layer index. */
  resolvedByLayer: Map<number, Map<string, string>>;
  /** Hard links' targets, resolved when their layer was applied, by `${image layer index}\0${resolved path}`. */
  linkTargets: Map<string, string>;
  /** The one layer (image index) read with --layer. */
  only: number | undefined;
}

async function scanImage(ref: ImageReference, options: ExtractOptions): Promise<Scan> {
  const resolvedByLayer = new Map<number, Map<string, string>>();
  const linkTargets = new Map<string, string>();
  const record = (index: number, entries: readonly LayerEntry[], tree: FileTree): void => {
    let map: Map<string, string> | undefined;
    for (const e of entries) {
      if (!(e.type === 'file' && e.size > 0) && e.type !== 'hardlink') continue;
      if (whiteoutOf(e)) continue;
      const resolved = tree.resolveParents(e.path, false);
      if (resolved !== e.path) {
        if (!map) resolvedByLayer.set(index, (map = new Map()));
        map.set(e.path, resolved);
      }
      if (e.type === 'hardlink') linkTargets.set(`${index}\0${resolved}`, tree.resolveParents(e.linkname ?? '', false));
    }
  };
  if (options.layer === undefined) {
    const { tree, image } = await imageTree(ref, {
      ...options,
      beforeLayer: (index, entries, t, img) => {
        record(index, entries, t);
        const d = img.layers[index]!;
        options.onLayer?.('scan', index, img.layers.length, d.digest, d.size);
      },
    });
    return { image, tree, offset: 0, resolvedByLayer, linkTargets, only: undefined };
  }
  const image = await openImage(ref, options);
  try {
    const n = image.layers.length;
    const index = options.layer > 0 ? options.layer - 1 : n + options.layer;
    if (index < 0 || index >= n) {
      throw new WharfError('USAGE', `the image has ${n} layer${n === 1 ? '' : 's'}: there is no layer ${options.layer}`, {
        hint: n === 0 ? 'the image has no layers' : `give a layer from 1 to ${n}, or from -1 to -${n} counting from the top`,
      });
    }
    const tree = new FileTree();
    const entries: LayerEntry[] = [];
    await readLayer(image, index, async (it) => {
      for await (const { entry } of it) entries.push(entry);
    }, options);
    const d = image.layers[index]!;
    options.onLayer?.('scan', index, n, d.digest, d.size);
    record(index, entries, tree);
    tree.applyLayer(entries, whiteoutOf);
    return { image, tree, offset: index, resolvedByLayer, linkTargets, only: index };
  } catch (err) {
    await image.close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The plan: what to write, from headers or from which layer's bodies

interface BodyWant {
  /** The header of the version wanted (entries of the layer are matched against it). */
  header: LayerEntry;
  /** Where it is written. */
  output: string;
}

interface Plan {
  paths: ExtractedPath[];
  /** Written from headers alone, parents first: directories, symlinks, empty files (and devices, to be skipped). */
  fromHeaders: LayerEntry[];
  /** Files whose content a layer holds: by image layer index, by the path the layer's entry resolves to. */
  bodies: Map<number, Map<string, BodyWant>>;
  /** Hard links, written last (their targets are written by then). */
  links: LayerEntry[];
  resolvedByLayer: Map<number, Map<string, string>>;
  /** Skipped while planning (hard links to nothing extractable), merged into the stats. */
  skipped: Record<string, number>;
  layerCount: number;
}

function planExtract(scan: Scan, wanted: string[], options: ExtractOptions): Plan {
  const { tree, offset } = scan;
  const warn = options.onWarning ?? (() => {});
  const selected = new Set<string>();
  const paths: ExtractedPath[] = [];
  const missing: string[] = [];
  for (const p of wanted) {
    const resolved = tree.resolveParents(p, false);
    const node = tree.get(resolved);
    if (!node) {
      missing.push(p);
      continue;
    }
    let count = 0;
    const stack = [resolved];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (s !== '' || resolved === '') {
        if (!selected.has(s)) count++;
        selected.add(s);
      }
      const n = tree.get(s);
      if (n?.entry.type === 'dir') stack.push(...tree.childrenOf(s));
    }
    paths.push({ path: `/${p}`, resolved: `/${resolved}`, type: node.entry.type, layer: node.implicit ? 0 : node.layer + offset + 1, entries: count });
  }
  if (missing.length > 0) throw notFound(scan, missing);

  const plan: Plan = { paths, fromHeaders: [], bodies: new Map(), links: [], resolvedByLayer: scan.resolvedByLayer, skipped: {}, layerCount: scan.image.layers.length };
  const skip = (reason: string, message: string): void => {
    plan.skipped[reason] = (plan.skipped[reason] ?? 0) + 1;
    if (plan.skipped[reason] === 1) warn(message);
  };
  const now = Date.now() / 1000;
  /** Content sources already claimed: `${layer}\0${path}` → the output that carries it. */
  const carriers = new Map<string, string>();
  const emitFile = (v: FileNode, output: string): void => {
    const layer = v.layer + offset;
    const key = `${layer}\0${v.entry.path}`;
    const carrier = carriers.get(key);
    if (carrier !== undefined) {
      plan.links.push({ ...v.entry, type: 'hardlink', path: output, size: 0, linkname: carrier });
      return;
    }
    carriers.set(key, output);
    if (v.entry.size === 0) {
      plan.fromHeaders.push({ ...v.entry, path: output });
      return;
    }
    let byPath = plan.bodies.get(layer);
    if (!byPath) plan.bodies.set(layer, (byPath = new Map()));
    byPath.set(v.entry.path, { header: v.entry, output });
  };
  const history = new LinkHistory(tree);

  for (const s of [...selected].sort()) {
    if (s === '') continue; // the root: DIR itself, never an entry
    const node = tree.get(s)!;
    const e = node.entry;
    if (e.type === 'dir') plan.fromHeaders.push(node.implicit ? { ...e, path: s, mtime: now } : e);
    else if (e.type === 'file') emitFile(node, s);
    else if (e.type === 'hardlink') {
      // What the link shares an inode with: the target as it was when the link's layer was applied.
      let v: FileNode | undefined = node;
      for (let hops = 0; v?.entry.type === 'hardlink' && hops < 40; hops++) {
        const layer = v.layer + offset;
        const target: string = scan.linkTargets.get(`${layer}\0${v.entry.path}`) ?? v.entry.linkname ?? '';
        v = history.versionAt(target, v.layer);
      }
      if (v?.entry.type !== 'file') {
        skip('hardlink-outside', `/${s}: hard link to /${e.linkname ?? ''}, which is not a file in the image; not extracted`);
        continue;
      }
      if (selected.has(v.entry.path) && tree.get(v.entry.path) === v) {
        // The link shares the target's inode: its header says what the target's does (as tar writes it).
        plan.links.push({ ...v.entry, type: 'hardlink', path: s, size: 0, linkname: v.entry.path });
      } else {
        emitFile(v, s);
      }
    } else {
      plan.fromHeaders.push(e); // symlinks; devices and fifos, which the writers skip with a warning
    }
  }
  return plan;
}

/** Versions of paths before later layers replaced or removed them, for hard links made before that. */
class LinkHistory {
  private touches: Map<string, { layer: number; before: FileNode }[]> | undefined;

  constructor(private readonly tree: FileTree) {}

  /** The version of `path` visible right after tree layer `layer` was applied, if the tree can tell. */
  versionAt(path: string, layer: number): FileNode | undefined {
    if (!this.touches) {
      this.touches = new Map();
      for (const changes of this.tree.layers) {
        for (const { path: p, before } of [...changes.changed, ...changes.removed]) {
          let list = this.touches.get(p);
          if (!list) this.touches.set(p, (list = []));
          list.push({ layer: changes.layer, before });
        }
      }
    }
    const later = this.touches.get(path)?.find((t) => t.layer > layer);
    const node = later ? later.before : this.tree.get(path);
    return node && node.layer <= layer ? node : undefined;
  }
}

function notFound(scan: Scan, missing: string[]): WharfError {
  const { tree, offset } = scan;
  const where = scan.only === undefined ? 'the image' : `layer ${scan.only + 1}`;
  const first = missing[0]!;
  const list = missing.map((p) => `/${p}`).join(', ');
  const hints: string[] = [];
  // Deleted by a whiteout (or replaced by a later layer's folder)? Then a lower layer still has it.
  const resolved = tree.resolveParents(first, false);
  for (const changes of tree.layers) {
    const gone = changes.removed.find((r) => r.path === resolved);
    if (gone) {
      hints.push(`it was deleted in layer ${changes.layer + offset + 1}; --layer ${gone.before.layer + offset + 1} extracts it from the layer that holds it`);
      break;
    }
  }
  // The deepest existing folder on the way, and its closest child.
  const parts = first.split('/');
  for (let i = parts.length - 1; i >= 0 && hints.length === 0; i--) {
    const prefix = parts.slice(0, i).join('/');
    const at = tree.resolveParents(prefix, true);
    const node = tree.get(at);
    if (!node) continue;
    if (node.entry.type !== 'dir') {
      hints.push(`/${prefix} is a ${node.entry.type}, not a folder`);
      break;
    }
    const name = parts[i]!;
    const names = tree.childrenOf(at).map((c) => c.slice(c.lastIndexOf('/') + 1));
    const best = nearest(name, names);
    if (best !== undefined) hints.push(`did you mean /${prefix ? `${prefix}/` : ''}${best}?`);
    else if (prefix !== '') hints.push(`/${prefix} exists (${names.length} entr${names.length === 1 ? 'y' : 'ies'}); --path /${prefix} extracts all of it`);
    break;
  }
  if (hints.length === 0) hints.push('paths are absolute in the image, e.g. /etc/os-release');
  return new WharfError('PATH_NOT_FOUND', `${list}: not in ${where}`, { hint: hints.join('; ') });
}

/** The candidate closest to `word`, if close enough to be a slip (or `word` is its prefix). */
function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) >= bestD && !c.startsWith(word)) continue;
    const d = c.startsWith(word) ? Math.min(1, c.length - word.length) : distance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------------------
// Second pass

/** Where the selected entries go: the Unpacker (a directory) or a tar stream. */
interface Sink {
  readonly stats: UnpackStats;
  apply(entries: AsyncIterable<LayerEntryWithBody>): Promise<void>;
}

async function* fromList(entries: readonly LayerEntry[]): AsyncGenerator<LayerEntryWithBody> {
  for (const entry of entries) yield { entry };
}

function sameVersion(a: LayerEntry, b: LayerEntry): boolean {
  return a.type === b.type && a.size === b.size && a.mode === b.mode && a.mtime === b.mtime && a.uid === b.uid && a.gid === b.gid;
}

async function runPlan(image: OpenedImage, plan: Plan, sink: Sink, options: ExtractOptions): Promise<ExtractResult['layersRead']> {
  await sink.apply(fromList(plan.fromHeaders));
  const read: ExtractResult['layersRead'] = [];
  for (const index of [...plan.bodies.keys()].sort((a, b) => a - b)) {
    const want = plan.bodies.get(index)!;
    const resolved = plan.resolvedByLayer.get(index);
    const d = image.layers[index]!;
    options.onLayer?.('extract', index, image.layers.length, d.digest, d.size);
    const taken = { layer: index + 1, files: 0, bytes: 0 };
    const found = new Set<string>();
    await readLayer(image, index, (entries) => {
      async function* select(): AsyncGenerator<LayerEntryWithBody> {
        for await (const { entry, body } of entries) {
          if (entry.type !== 'file' || entry.size === 0) continue;
          const path = resolved?.get(entry.path) ?? entry.path;
          const w = want.get(path);
          if (!w || !sameVersion(entry, w.header)) continue;
          if (!found.has(path)) {
            found.add(path);
            taken.files++;
            taken.bytes += entry.size;
          }
          const out: LayerEntryWithBody = { entry: { ...entry, path: w.output } };
          if (body) out.body = body;
          yield out;
        }
      }
      return sink.apply(select());
    }, { ...options, onWarning: () => {} }); // the first pass told what this layer's tar stream had to say
    read.push(taken);
    if (found.size < want.size) {
      const lost = [...want.keys()].filter((p) => !found.has(p));
      throw new WharfError('LAYER_INVALID', `layer ${index + 1} (${d.digest}): /${lost[0]} was in its headers but not found on the second read`, {
        hint: 'the layer changed between two reads of a verified blob; this is a bug in wharf: report it',
      });
    }
  }
  await sink.apply(fromList(plan.links));
  return read;
}

function mergeSkipped(into: Record<string, number>, more: Record<string, number>): void {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v;
}

async function extractToDirectory(image: OpenedImage, plan: Plan, target: string, options: ExtractOptions): Promise<ExtractResult> {
  const staging = stagingPath(target, 'extract');
  await fsp.mkdir(staging, { recursive: true });
  try {
    const unpackerOptions: ConstructorParameters<typeof Unpacker>[2] = { isRoot: options.isRoot === true };
    if (options.onWarning) unpackerOptions.onWarning = options.onWarning;
    if (options.signal) unpackerOptions.signal = options.signal;
    // Nothing the plan hands over is a whiteout: the tree applied them already.
    const unpacker = new Unpacker(staging, () => undefined, unpackerOptions);
    const sink: Sink = { stats: unpacker.stats, apply: (entries) => unpacker.applyLayer(entries) };
    const layersRead = await runPlan(image, plan, sink, options);
    await unpacker.finish();
    options.signal?.throwIfAborted();
    await fsp.rmdir(target).catch(() => {}); // an empty folder the user made for it
    await fsp.rename(staging, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST' || err.code === 'ENOTDIR') {
        throw new WharfError('DESTINATION_EXISTS', `${target} was created while extracting, and is not empty`, { cause: err, hint: 'extract into a new or empty directory' });
      }
      throw asWharfError(err, 'IO_ERROR', `moving the extracted files to ${target}`);
    });
    return result(plan, unpacker.stats, layersRead, target);
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

async function extractToTar(image: OpenedImage, plan: Plan, out: Writable, options: ExtractOptions): Promise<ExtractResult> {
  const sink = new TarSink(new TarWriter(out, options.signal), options.onWarning ?? (() => {}));
  const layersRead = await runPlan(image, plan, sink, options);
  await sink.writer.finish();
  return result(plan, sink.stats, layersRead, '-');
}

function result(plan: Plan, stats: UnpackStats, layersRead: ExtractResult['layersRead'], target: string): ExtractResult {
  const skipped = { ...stats.skipped };
  mergeSkipped(skipped, plan.skipped);
  return { ...stats, skipped, target, layers: plan.layerCount, layersRead, paths: plan.paths, links: plan.links.length };
}

/** Entries as a tar stream: the paths as in the image (no leading `/`), modes, owners and times kept. */
class TarSink implements Sink {
  readonly stats: UnpackStats = { entries: 0, files: 0, bytes: 0, skipped: {} };

  constructor(
    readonly writer: TarWriter,
    private readonly warn: (message: string) => void,
  ) {}

  async apply(entries: AsyncIterable<LayerEntryWithBody>): Promise<void> {
    for await (const { entry, body } of entries) {
      this.stats.entries++;
      const opts: TarWriteOptions = { mode: entry.mode & 0o7777, mtime: entry.mtime, uid: entry.uid, gid: entry.gid };
      if (entry.uname !== undefined) opts.uname = entry.uname;
      if (entry.gname !== undefined) opts.gname = entry.gname;
      if (entry.xattrs && Object.keys(entry.xattrs).length > 0) this.skip('xattr', `${entry.path}: extended attributes are not written to the tar stream`);
      try {
        switch (entry.type) {
          case 'dir':
            await this.writer.addDirectory(entry.path, opts);
            break;
          case 'file':
            this.stats.files++;
            this.stats.bytes += entry.size;
            await this.writer.addFile(entry.path, entry.size, body ?? Buffer.alloc(0), opts);
            break;
          case 'symlink':
            if (!entry.linkname) {
              this.skip('symlink-empty', `${entry.path}: a symlink with an empty target is not written`);
              break;
            }
            await this.writer.addSymlink(entry.path, entry.linkname, opts);
            break;
          case 'hardlink':
            await this.writer.addHardlink(entry.path, entry.linkname ?? '', opts);
            break;
          default:
            this.skip(entry.type, `${entry.path}: ${entry.type === 'fifo' ? 'a fifo' : `a ${entry.type} device`} is not extracted`);
        }
      } finally {
        body?.resume();
      }
    }
  }

  private skip(reason: string, message: string): void {
    this.stats.skipped[reason] = (this.stats.skipped[reason] ?? 0) + 1;
    if (this.stats.skipped[reason] === 1) this.warn(message);
  }
}
