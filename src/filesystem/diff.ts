/**
 * `diffImages`: what differs between two filesystems, each an image (any transport) or a directory — the
 * question `atomic diff` answers, without unpacking anything.
 *
 * An image is described from its layers' tar headers alone (FileTree, OCI whiteouts applied); a directory by an
 * lstat walk (DirTree). Paths in one and not the other are "only in"; a path in both is compared by type, mode,
 * owner, time, symlink target, device numbers and size, and only where everything says "maybe equal" and the
 * sizes agree is content hashed — except that a file whose visible version is the same entry of the same layer
 * blob in both images is the same without reading it. Hashing is a second pass that reads only the layers
 * holding the visible versions of those paths, and only those entries' bodies; a directory's files are opened
 * only when they are such candidates. Memory holds headers and a hash per candidate, never file contents.
 *
 * Rules, decided here and documented in `wharf diff --help`:
 * - A hard link in a layer is the file it links to on disk: its type, metadata and content are those of the
 *   target as it was when the link was made (the version the layer linked, as an unpacker makes it).
 * - Symlink modes are not compared (Linux cannot store them); directory times are not compared unless asked
 *   (`directoryTimes`): every added or removed child changes them, and layers re-emit parent directories with
 *   the build's time, so they repeat what the file lists already say.
 * - A directory an image only implies (no layer names it) has made-up metadata: its time is never compared, and
 *   the root is compared only when both sides describe it (a layer entry for `./`, or a directory operand).
 * - `size` differs ⇒ `content` is not reported (it is implied); with `size` ignored, `content` is reported then.
 * - `type` differs ⇒ nothing else is reported (a directory where a file was has another mode, of course),
 *   unless `type` is ignored: then mode, owner and time are compared as for any path.
 * - Extended attributes are not compared.
 */
import { createHash } from 'node:crypto';
import { WharfError } from '../errors.js';
import { FileTree, type FileNode } from '../layer/file-tree.js';
import type { LayerEntry } from '../layer/types.js';
import { whiteoutOf } from '../layer/whiteout.js';
import type { ImageReference } from '../transports/types.js';
import { DirTree, type DiffNode } from './dir-tree.js';
import { openImage, type OpenedImage } from './image-layers.js';
import { readLayer, type ReadLayersOptions } from './image-tree.js';

export type { DiffNode } from './dir-tree.js';

/** One operand of a diff: an image, or a directory holding a root filesystem. */
export type DiffSide = { kind: 'image'; ref: ImageReference } | { kind: 'dir'; path: string };

/** Why a path present on both sides is listed as different, in the order they are reported. */
export type DiffReason = 'type' | 'size' | 'content' | 'mode' | 'uid' | 'gid' | 'link target' | 'device' | 'time';
export const DIFF_REASONS: readonly DiffReason[] = ['type', 'size', 'content', 'mode', 'uid', 'gid', 'link target', 'device', 'time'];

export interface DiffOptions extends Omit<ReadLayersOptions, 'only'> {
  /** Reasons not to report; a path whose only differences are ignored is not listed. */
  ignore?: Iterable<DiffReason>;
  /** Compare directories' modification times too (default false). */
  directoryTimes?: boolean;
  /**
   * Take regular files of the same size and the same modification time for equal without hashing them (rsync's
   * quick check; what repack uses on a tree wharf unpacked, whose files keep their layers' times). Default false.
   */
  trustTimes?: boolean;
  /** Keep both sides' nodes in the result (`nodes`), for callers that need more than the verdicts. */
  keepNodes?: boolean;
}

export interface DiffEntry {
  /** With a leading `/` (the root is `/`). */
  path: string;
  reasons: DiffReason[];
}

export interface DiffSideStats {
  kind: 'image' | 'dir';
  /** Paths on this side, the root not counted. */
  paths: number;
  /** Layers whose headers were read for this side (a layer blob the other image shares is read once, for A). */
  headerReads: number;
  /** Layers (by index) read a second time to hash contents. */
  contentLayers: number[];
  /** Files whose content was hashed, and their bytes. */
  hashedFiles: number;
  hashedBytes: number;
}

export interface DiffStats {
  a: DiffSideStats;
  b: DiffSideStats;
  /** Files of equal size on both sides whose content had to be compared. */
  candidates: number;
  /** Of those, the files known identical without reading: the same entry of the same layer blob in both images. */
  sameLayer: number;
}

export interface DiffResult {
  /** Paths (leading `/`) only in A, sorted; a directory only in A is listed with everything below it. */
  onlyInA: string[];
  onlyInB: string[];
  different: DiffEntry[];
  /** What the diff had to read: for --debug, and for tests that check nothing more was read than needed. */
  stats: DiffStats;
  /** With `keepNodes`: each side's version of a path (leading `/`; the root is `/`). */
  nodes?: { a(path: string): DiffNode | undefined; b(path: string): DiffNode | undefined };
}

/** Compare two filesystems (see the module comment for the rules). */
export async function diffImages(a: DiffSide, b: DiffSide, options: DiffOptions = {}): Promise<DiffResult> {
  const ignore = new Set<DiffReason>(options.ignore ?? []);
  for (const r of ignore) {
    if (!DIFF_REASONS.includes(r)) throw new WharfError('USAGE', `unknown diff reason "${String(r)}"`, { hint: `reasons: ${DIFF_REASONS.join(', ')}` });
  }
  const sides = await openSides(a, b, options);
  try {
    const [sa, sb] = sides;
    const different = new Map<string, Set<DiffReason>>();
    const onlyInA: string[] = [];
    const onlyInB: string[] = [];
    const candidates: string[] = [];
    let sameLayer = 0;
    const consider = (path: string, na: DiffNode, nb: DiffNode): void => {
      const verdict = compareNodes(na, nb, ignore, options.directoryTimes === true, options.trustTimes === true);
      let candidate = verdict.hash;
      if (candidate) {
        const ka = sa.contentKey(path);
        if (ka !== undefined && ka === sb.contentKey(path)) {
          sameLayer++;
          candidate = false;
        } else {
          candidates.push(path);
        }
      }
      if (verdict.reasons.size > 0 || candidate) different.set(path, verdict.reasons);
    };
    const ra = sa.node('');
    const rb = sb.node('');
    if (ra && rb && !ra.implicit && !rb.implicit) consider('', ra, rb);
    for (const path of sa.paths()) {
      const nb = sb.node(path);
      if (!nb) onlyInA.push(path);
      else consider(path, sa.node(path)!, nb);
    }
    for (const path of sb.paths()) if (!sa.node(path)) onlyInB.push(path);

    if (candidates.length > 0) {
      const [ha, hb] = await both(sa.hash(candidates, options), sb.hash(candidates, options));
      for (const path of candidates) {
        const reasons = different.get(path)!;
        const x = ha.get(path);
        const y = hb.get(path);
        if (x === undefined || y === undefined) throw new WharfError('LAYER_INVALID', `/${path}: its content was not found on the second read`, { hint: 'the image changed during the diff, or this is a bug in wharf' });
        if (x !== y) reasons.add('content');
      }
    }
    const out: DiffEntry[] = [];
    for (const [path, reasons] of different) {
      if (reasons.size > 0) out.push({ path: `/${path}`, reasons: DIFF_REASONS.filter((r) => reasons.has(r)) });
    }
    out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const result: DiffResult = {
      onlyInA: onlyInA.map((p) => `/${p}`),
      onlyInB: onlyInB.map((p) => `/${p}`),
      different: out,
      stats: { a: sa.stats, b: sb.stats, candidates: candidates.length + sameLayer, sameLayer },
    };
    if (options.keepNodes) result.nodes = { a: (p) => sa.node(p.replace(/^\//, '')), b: (p) => sb.node(p.replace(/^\//, '')) };
    return result;
  } finally {
    await Promise.all(sides.map((s) => s.close()));
  }
}

/**
 * The reasons two versions of a path differ, and whether their contents still have to be compared (both regular
 * files of the same size, not empty, and content not ignored).
 */
export function compareNodes(a: DiffNode, b: DiffNode, ignore: ReadonlySet<DiffReason>, directoryTimes: boolean, trustTimes = false): { reasons: Set<DiffReason>; hash: boolean } {
  const reasons = new Set<DiffReason>();
  let hash = false;
  if (a.type !== b.type) {
    // Another kind of file: its mode, owner and time are not news (unless the type itself is ignored).
    if (!ignore.has('type')) return { reasons: new Set(['type']), hash };
  } else if (a.type === 'file') {
    if (a.size !== b.size) reasons.add(ignore.has('size') ? 'content' : 'size');
    else if (a.size > 0 && !ignore.has('content') && !(trustTimes && a.mtime === b.mtime && !a.implicit && !b.implicit)) hash = true;
  } else if (a.type === 'symlink' || a.type === 'hardlink') {
    if (a.linkname !== b.linkname) reasons.add('link target');
  } else if (a.type === 'char' || a.type === 'block') {
    if (a.device !== b.device) reasons.add('device');
  }
  if (a.type !== 'symlink' && b.type !== 'symlink' && a.mode !== b.mode) reasons.add('mode');
  if (a.uid !== b.uid) reasons.add('uid');
  if (a.gid !== b.gid) reasons.add('gid');
  const bothDirs = a.type === 'dir' && b.type === 'dir';
  if ((!bothDirs || directoryTimes) && !a.implicit && !b.implicit && a.mtime !== b.mtime) reasons.add('time');
  for (const r of ignore) reasons.delete(r);
  return { reasons, hash };
}

// ---------------------------------------------------------------------------------------------------------
// The two kinds of side

interface Side {
  stats: DiffSideStats;
  /** The root is ''. */
  node(path: string): DiffNode | undefined;
  /** Every path but the root, sorted. */
  paths(): string[];
  /** For an image: which layer blob entry holds this path's content (equal keys: equal content). */
  contentKey(path: string): string | undefined;
  /** The sha256 of each path's content (all regular files on this side). */
  hash(paths: readonly string[], options: DiffOptions): Promise<Map<string, string>>;
  close(): Promise<void>;
}

class DirSide implements Side {
  readonly stats: DiffSideStats;

  constructor(private readonly tree: DirTree) {
    this.stats = { kind: 'dir', paths: tree.size, headerReads: 0, contentLayers: [], hashedFiles: 0, hashedBytes: 0 };
  }

  node(path: string): DiffNode | undefined {
    return this.tree.get(path);
  }

  paths(): string[] {
    return this.tree.paths();
  }

  contentKey(): undefined {
    return undefined;
  }

  async hash(paths: readonly string[], options: DiffOptions): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const queue = [...paths];
    const worker = async (): Promise<void> => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const { digest, bytes } = await this.tree.hash(p, options.signal);
        out.set(p, digest);
        this.stats.hashedFiles++;
        this.stats.hashedBytes += bytes;
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
    return out;
  }

  async close(): Promise<void> {}
}

/** A layer entry with its position in the layer's tar (0-based, every yielded entry counted). */
type SeqEntry = LayerEntry & { seq: number };

class ImageSide implements Side {
  readonly tree = new FileTree();
  readonly stats: DiffSideStats;
  /** What each visible hard link links to: the target's version when the link was made. */
  private readonly hardlinks = new Map<string, FileNode>();

  constructor(readonly image: OpenedImage) {
    this.stats = { kind: 'image', paths: 0, headerReads: 0, contentLayers: [], hashedFiles: 0, hashedBytes: 0 };
  }

  /** Identity of a layer: equal keys are the same tar, whoever holds it. */
  layerKey(index: number): string {
    return `${this.image.layers[index]!.digest} ${this.image.diffIds[index] ?? ''}`;
  }

  apply(index: number, entries: SeqEntry[]): void {
    if (entries.some((e) => e.type === 'hardlink')) this.recordHardlinks(index, entries);
    this.tree.applyLayer(entries, whiteoutOf);
    this.stats.paths = this.tree.size;
  }

  /** Before a layer is applied: the version each of its hard links points at (as Unpacker resolves them). */
  private recordHardlinks(index: number, entries: SeqEntry[]): void {
    const earlier = new Map<string, SeqEntry>(); // this layer's entries so far, by path as written
    const own = new Map<SeqEntry, FileNode | undefined>();
    for (const e of entries) {
      if (whiteoutOf(e)) continue;
      if (e.type === 'hardlink') {
        const target = this.linkTarget(e.linkname ?? '', index, earlier, own);
        own.set(e, target);
        const path = this.tree.resolveParents(e.path, false);
        if (target) this.hardlinks.set(path, target);
        else this.hardlinks.delete(path);
      }
      earlier.set(e.path, e);
    }
  }

  private linkTarget(linkname: string, index: number, earlier: Map<string, SeqEntry>, own: Map<SeqEntry, FileNode | undefined>): FileNode | undefined {
    let mine = earlier.get(linkname);
    const resolved = mine ? linkname : this.tree.resolveParents(linkname, false);
    mine ??= earlier.get(resolved);
    let node: FileNode | undefined;
    if (mine) node = mine.type === 'hardlink' ? own.get(mine) : { entry: mine, layer: index };
    else {
      node = this.tree.get(resolved);
      if (node?.entry.type === 'hardlink') node = this.hardlinks.get(resolved);
    }
    return node?.entry.type === 'file' ? node : undefined;
  }

  /** The version a path shows, hard links replaced by what they link to. */
  private visible(path: string): FileNode | undefined {
    const n = this.tree.get(path);
    if (n?.entry.type === 'hardlink') return this.hardlinks.get(path) ?? n;
    return n;
  }

  node(path: string): DiffNode | undefined {
    const n = this.tree.get(path);
    if (!n) return undefined;
    const v = n.entry.type === 'hardlink' ? (this.hardlinks.get(path) ?? n) : n;
    const e = v.entry;
    const node: DiffNode = { type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, size: e.type === 'file' ? e.size : 0, mtime: Math.floor(e.mtime) };
    if ((e.type === 'symlink' || e.type === 'hardlink') && e.linkname !== undefined) node.linkname = e.linkname;
    if (e.type === 'char' || e.type === 'block') node.device = `${e.devmajor ?? 0}:${e.devminor ?? 0}`;
    if (n.implicit) node.implicit = true;
    return node;
  }

  paths(): string[] {
    return this.tree.paths();
  }

  contentKey(path: string): string | undefined {
    const v = this.visible(path);
    if (v?.entry.type !== 'file' || v.layer < 0) return undefined;
    return `${this.layerKey(v.layer)} #${(v.entry as SeqEntry).seq}`;
  }

  async hash(paths: readonly string[], options: DiffOptions): Promise<Map<string, string>> {
    // layer -> entry position -> the paths whose content it is (a hard link and its target share one).
    const wanted = new Map<number, Map<number, string[]>>();
    for (const path of paths) {
      const v = this.visible(path);
      const seq = (v?.entry as SeqEntry | undefined)?.seq;
      if (!v || v.entry.type !== 'file' || seq === undefined) throw new WharfError('LAYER_INVALID', `/${path}: no layer entry holds its content`, { hint: 'this is a bug in wharf' });
      let byLayer = wanted.get(v.layer);
      if (!byLayer) wanted.set(v.layer, (byLayer = new Map()));
      const list = byLayer.get(seq);
      if (list) list.push(path);
      else byLayer.set(seq, [path]);
    }
    const out = new Map<string, string>();
    const readerOptions = layerReadOptions(options);
    this.stats.contentLayers = [...wanted.keys()].sort((x, y) => x - y);
    const tasks = this.stats.contentLayers.map((index) => async (): Promise<void> => {
      const byEntry = wanted.get(index)!;
      await readLayer(this.image, index, async (entries) => {
        let seq = 0;
        for await (const { body } of entries) {
          const targets = byEntry.get(seq++);
          if (!targets || !body) continue;
          const h = createHash('sha256');
          let bytes = 0;
          for await (const chunk of body as AsyncIterable<Buffer>) {
            h.update(chunk);
            bytes += chunk.length;
          }
          const digest = h.digest('hex');
          for (const p of targets) out.set(p, digest);
          this.stats.hashedFiles++;
          this.stats.hashedBytes += bytes;
        }
      }, readerOptions);
    });
    await pool(tasks, LAYER_READS);
    return out;
  }

  /** One layer's entries (headers only), each with its position in the tar. */
  async readHeaders(index: number, options: DiffOptions): Promise<SeqEntry[]> {
    const got: SeqEntry[] = [];
    let seq = 0;
    await readLayer(this.image, index, async (it) => {
      for await (const { entry } of it) got.push(Object.assign(entry, { seq: seq++ }));
    }, layerReadOptions(options));
    this.stats.headerReads++;
    return got;
  }

  close(): Promise<void> {
    return this.image.close();
  }
}

/** Layers read at once (each is a file or HTTP read, a decompressor and two hashes in flight). */
const LAYER_READS = 4;

/**
 * Open both sides and build their trees. Layers are read a few at a time and applied in order as they arrive;
 * a layer blob both images hold (the same digest and diff_id: the same tar) is read once and its headers
 * applied to both trees — the shared base of an image and the image built on it costs one read. A directory
 * side is walked meanwhile.
 */
async function openSides(a: DiffSide, b: DiffSide, options: DiffOptions): Promise<[Side, Side]> {
  const images: ImageSide[] = [];
  const inFlight: Promise<unknown>[] = [];
  try {
    const sides: (ImageSide | Promise<DirSide>)[] = [];
    for (const side of [a, b]) {
      if (side.kind === 'image') {
        const s = new ImageSide(await openImage(side.ref, options));
        images.push(s);
        sides.push(s);
      } else {
        const walk = DirTree.walk(side.path, options.signal ? { signal: options.signal } : {}).then((t) => new DirSide(t));
        walk.catch(() => {});
        inFlight.push(walk);
        sides.push(walk);
      }
    }
    // One read per distinct layer, started in the order the trees need them; each kept until its last use.
    interface Read {
      start: () => Promise<SeqEntry[]>;
      result?: Promise<SeqEntry[]>;
      begun: Promise<void>;
      begin?: () => void;
      uses: number;
    }
    const reads = new Map<string, Read>();
    const plan: { side: ImageSide; index: number; key: string }[] = [];
    for (const side of images) {
      for (let index = 0; index < side.image.layers.length; index++) {
        const key = side.layerKey(index);
        const known = reads.get(key);
        if (known) known.uses++;
        else {
          const r: Read = { start: () => side.readHeaders(index, options), uses: 1, begun: Promise.resolve() };
          r.begun = new Promise<void>((resolve) => (r.begin = resolve));
          reads.set(key, r);
        }
        plan.push({ side, index, key });
      }
    }
    const all = pool(
      [...reads.values()].map((r) => () => {
        r.result = r.start();
        r.result.catch(() => {});
        r.begin!();
        return r.result;
      }),
      LAYER_READS,
    );
    all.catch(() => {});
    inFlight.push(all);
    for (const step of plan) {
      const r = reads.get(step.key)!;
      await Promise.race([r.begun, all]);
      step.side.apply(step.index, await r.result!);
      if (--r.uses === 0) reads.delete(step.key);
    }
    await all;
    const out: Side[] = [];
    for (const s of sides) out.push(await s);
    return [out[0]!, out[1]!];
  } catch (err) {
    await Promise.allSettled(inFlight);
    await Promise.all(images.map((s) => s.close().catch(() => {})));
    throw err;
  }
}

/** Both results; on a failure, the first error once the other has settled too (nothing left reading a closed source). */
async function both<X, Y>(x: Promise<X>, y: Promise<Y>): Promise<[X, Y]> {
  const [rx, ry] = await Promise.allSettled([x, y]);
  if (rx.status === 'rejected') throw rx.reason;
  if (ry.status === 'rejected') throw ry.reason;
  return [rx.value, ry.value];
}

/** Run tasks, at most `limit` at once, started in order; rejects with the first error once the running ones settle. */
async function pool(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && !failure) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure) throw failure.err;
}

function layerReadOptions(options: DiffOptions): ReadLayersOptions {
  const readerOptions: ReadLayersOptions = {};
  if (options.signal) readerOptions.signal = options.signal;
  if (options.onWarning) readerOptions.onWarning = options.onWarning;
  return readerOptions;
}
