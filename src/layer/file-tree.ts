import type { LayerEntry, Whiteout } from './types.js';
import { resolveInRoot } from './resolve-path.js';

/** The version of a path an image shows: its header, and which layer put it there. */
export interface FileNode {
  entry: LayerEntry;
  /** Index of the layer (0 = base) that holds this version. */
  layer: number;
  /** True for a directory no entry named: a parent implied by a deeper path. */
  implicit?: boolean;
}

/** What one layer did to the image's filesystem, in the terms of `wharf layers` and dive. */
export interface LayerChanges {
  layer: number;
  /** Paths the layer created. */
  added: string[];
  /** Paths the layer replaced, with the version it replaced. */
  changed: { path: string; before: FileNode }[];
  /** Paths its whiteouts removed (each removed subtree's paths, listed). */
  removed: { path: string; before: FileNode }[];
  /** Bytes of file content the layer holds. */
  bytes: number;
}

/**
 * An image's filesystem as its layers' tar headers describe it, with OCI whiteouts applied (image-spec
 * layer.md) — built from headers alone, so questions about what is in an image never need it unpacked.
 *
 * A layer is given whole (`applyLayer`), because the spec's rules are about the layer, not the tar order: an
 * opaque marker hides what lower layers put in its directory before the layer's own entries are applied,
 * wherever it stands in the tar; whiteouts never touch the layer's own entries; directory over directory keeps
 * the children; anything else over a path replaces it and what was below it.
 */
export class FileTree {
  private readonly nodes = new Map<string, FileNode>();
  private readonly children = new Map<string, Set<string>>();
  readonly layers: LayerChanges[] = [];

  constructor() {
    this.nodes.set('', { entry: rootEntry(), layer: -1, implicit: true });
  }

  get(path: string): FileNode | undefined {
    return this.nodes.get(path);
  }

  /** Every visible path but the root, in sorted order. */
  paths(): string[] {
    return [...this.nodes.keys()].filter((p) => p !== '').sort();
  }

  get size(): number {
    return this.nodes.size - 1;
  }

  /** The direct children of a directory, as full paths. */
  childrenOf(path: string): string[] {
    return [...(this.children.get(path) ?? [])].sort();
  }

  /**
   * Apply one layer: its entries (whiteout markers included, as the reader yields them), classified by
   * `whiteoutOf`. Returns what the layer changed.
   */
  applyLayer(entries: Iterable<LayerEntry>, whiteoutOf: (e: LayerEntry) => Whiteout | { kind: 'aufs' } | undefined): LayerChanges {
    const layer = this.layers.length;
    const own = new Map<string, LayerEntry>();
    const opaque = new Set<string>();
    const whiteouts = new Set<string>();
    for (const e of entries) {
      const w = whiteoutOf(e);
      if (w?.kind === 'aufs') continue;
      // Parent directories that are symlinks are followed, inside the image (as a chroot would), the way
      // docker and umoci extract: usrmerge images have `lib -> usr/lib`, and a later layer's `lib/x` is usr/lib/x.
      if (w?.kind === 'opaque') opaque.add(this.resolveParents(w.dir, true));
      else if (w?.kind === 'file') whiteouts.add(this.resolveParents(w.target, false));
      else {
        const path = this.resolveParents(e.path, false);
        own.delete(path); // the last entry for a path wins, and keeps its place in the order
        own.set(path, path === e.path ? e : { ...e, path });
      }
    }
    const changes: LayerChanges = { layer, added: [], changed: [], removed: [], bytes: 0 };
    // 1. What the layer hides from the layers below: opaque directories first, then single whiteouts.
    for (const dir of opaque) {
      for (const child of [...(this.children.get(dir) ?? [])]) this.remove(child, changes);
    }
    for (const target of whiteouts) {
      if (target !== '' && this.nodes.has(target)) this.remove(target, changes);
    }
    // 2. Its own entries, parents before children whatever the tar order.
    for (const [path, entry] of [...own].sort(([a], [b]) => depth(a) - depth(b))) {
      if (entry.type === 'file') changes.bytes += entry.size;
      if (path === '') {
        this.nodes.set('', { entry, layer });
        continue;
      }
      this.ensureParents(path, layer, changes);
      const before = this.nodes.get(path);
      if (before) {
        // A directory over a directory keeps its children; anything else replaces the whole subtree.
        if (!(before.entry.type === 'dir' && entry.type === 'dir')) {
          for (const child of [...(this.children.get(path) ?? [])]) this.remove(child, undefined);
        }
        changes.changed.push({ path, before });
      } else {
        changes.added.push(path);
        this.link(path);
      }
      this.nodes.set(path, { entry, layer });
    }
    // An opaque marker says its directory is one, in this layer, even when no entry names it.
    for (const dir of opaque) if (dir !== '' && this.nodes.get(dir)?.entry.type !== 'dir') this.ensureParents(`${dir}/-`, layer, changes);
    this.layers.push(changes);
    return changes;
  }

  /**
   * `path` with every symlink among its parent directories replaced by its target, resolved inside the image
   * (an absolute target starts at the image's root, `..` stops there), so no path ever leaves the image. With
   * `whole`, the last component is resolved too. Loops and very long chains are LAYER_INVALID.
   */
  resolveParents(path: string, whole: boolean): string {
    return resolveInRoot(path, whole, (p) => {
      const node = this.nodes.get(p);
      return node?.entry.type === 'symlink' ? (node.entry.linkname ?? '') : undefined;
    });
  }

  /** A parent directory no entry of this layer or below named (tars need not list directories). */
  private ensureParents(path: string, layer: number, changes: LayerChanges): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const node = this.nodes.get(dir);
      if (node && node.entry.type === 'dir') continue;
      if (node) {
        // A file where a directory must be: the deeper path wins, as a tar extractor would make it.
        for (const child of [...(this.children.get(dir) ?? [])]) this.remove(child, undefined);
        changes.changed.push({ path: dir, before: node });
      } else {
        changes.added.push(dir);
        this.link(dir);
      }
      this.nodes.set(dir, { entry: { ...rootEntry(), path: dir }, layer, implicit: true });
    }
  }

  private link(path: string): void {
    const parent = parentOf(path);
    let set = this.children.get(parent);
    if (!set) this.children.set(parent, (set = new Set()));
    set.add(path);
  }

  /** Remove a path and everything below it; record each removal when `changes` is given. */
  private remove(path: string, changes: LayerChanges | undefined): void {
    const stack = [path];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const node = this.nodes.get(p);
      if (!node) continue;
      const kids = this.children.get(p);
      if (kids) stack.push(...kids);
      this.children.delete(p);
      this.nodes.delete(p);
      changes?.removed.push({ path: p, before: node });
    }
    this.children.get(parentOf(path))?.delete(path);
  }
}

function depth(path: string): number {
  if (path === '') return 0;
  let n = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function rootEntry(): LayerEntry {
  return { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
}
