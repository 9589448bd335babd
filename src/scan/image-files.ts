/**
 * One streaming pass over an image's layers for the scanners: every layer read once, in order, its entries
 * applied to a FileTree (OCI whiteouts) so that what the final filesystem shows is known, and on the way
 * - the contents of the files the package cataloguers ask for (`wanted`), every layer's version of each (capped
 *   in size): the version the final filesystem shows, and the history of the path, so a scanner can tell in
 *   which layer a package arrived;
 * - the secrets in every text file of every layer — including files a later layer deletes or replaces, which
 *   are still in the image for anyone who pulls it — each with the layer that holds it and the layer that hid it;
 * - from the final tree: setuid and setgid files, world-writable files and directories, file capabilities.
 * Nothing is written to disk; memory holds headers, the wanted files and the findings.
 */
import { readEntryBody } from '../layer/entry-body.js';
import { FileTree, type FileNode } from '../layer/file-tree.js';
import type { LayerEntry } from '../layer/types.js';
import { whiteoutOf } from '../layer/whiteout.js';
import type { OpenedImage } from '../filesystem/image-layers.js';
import { readLayer, type ReadLayersOptions } from '../filesystem/image-tree.js';
import { findSecrets, type SecretMatch } from './secrets.js';

export interface ImageFilesOptions extends ReadLayersOptions {
  /** Paths (no leading `/`) whose final contents the caller needs, e.g. var/lib/dpkg/status. */
  wanted?: (path: string) => boolean;
  /** Files larger than this are not read for `wanted` (default 64 MiB) nor for secrets (default 10 MiB). */
  maxWantedBytes?: number;
  maxSecretFileBytes?: number;
  /** Look for secrets (default true). */
  secrets?: boolean;
}

export interface FileSecret extends SecretMatch {
  /** With a leading `/`. */
  path: string;
  /** 1-based layer that holds the file. */
  layer: number;
  /** Whether the final filesystem shows this very version. */
  inFinalFilesystem: boolean;
  /** The 1-based layer that deleted or replaced it, when it is not in the final filesystem. */
  hiddenByLayer?: number;
}

export interface PermissionFinding {
  kind: 'setuid' | 'setgid' | 'world-writable' | 'capabilities';
  /** With a leading `/`. */
  path: string;
  /** 1-based layer the visible version comes from. */
  layer: number;
  mode: number;
  uid: number;
  gid: number;
  type: LayerEntry['type'];
}

/** What one layer did to a wanted path. */
export interface FileVersion {
  /** 1-based layer. */
  layer: number;
  /**
   * The contents this layer gave the path. Undefined when the layer removed the path (a whiteout, an opaque
   * directory, a parent replaced) or put there something that was not read (larger than the cap, not a
   * regular file): from this layer on the path holds nothing the scanners know.
   */
  data?: Buffer;
}

export interface ImageFiles {
  /** The wanted files the final filesystem shows, by path without a leading `/`. */
  files: Map<string, Buffer>;
  /**
   * Every wanted path some layer wrote, with one entry per layer that changed it, in layer order; the last entry
   * is what the final filesystem shows. The buffers are the ones `files` holds, and those of earlier versions.
   */
  versions: Map<string, FileVersion[]>;
  secrets: FileSecret[];
  permissions: PermissionFinding[];
  /** Per phase, milliseconds: reading layers (with secret matching) and the final-tree checks. */
  timings: { readLayers: number; permissions: number };
  layers: number;
}

/** Read every layer once and gather what the scanners need (see the module comment). */
export async function readImageFiles(image: OpenedImage, options: ImageFilesOptions = {}): Promise<ImageFiles> {
  const wanted = options.wanted ?? (() => false);
  const maxWanted = options.maxWantedBytes ?? 64 << 20;
  const maxSecret = options.maxSecretFileBytes ?? 10 << 20;
  const scanSecrets = options.secrets ?? true;
  const tree = new FileTree();
  /** Each wanted path's history (see ImageFiles.versions), brought up to date after every layer. */
  const versions = new Map<string, FileVersion[]>();
  const secrets: FileSecret[] = [];
  const t0 = performance.now();
  for (let index = 0; index < image.layers.length; index++) {
    const entries: LayerEntry[] = [];
    /** This layer's wanted paths, with the contents read (none: not a regular file, or too large). */
    const written = new Map<string, Buffer | undefined>();
    await readLayer(image, index, async (it) => {
      for await (const { entry, body } of it) {
        entries.push(entry);
        if (whiteoutOf(entry)) continue;
        const isWanted = wanted(entry.path);
        if (isWanted) written.set(entry.path, undefined);
        if (entry.type !== 'file' || !body) continue;
        const want = isWanted && entry.size <= maxWanted;
        const scan = scanSecrets && entry.size > 0 && entry.size <= maxSecret;
        if (!want && !scan) continue;
        const data = await readEntryBody(body, entry.size);
        if (want) written.set(entry.path, data);
        if (scan) {
          for (const m of findSecrets(entry.path, data)) secrets.push({ ...m, path: `/${entry.path}`, layer: index + 1, inFinalFilesystem: true });
        }
      }
    }, options);
    tree.applyLayer(entries, whiteoutOf);
    recordVersions(versions, written, tree, index);
    // A secret of an earlier layer that this layer deleted or replaced is still in the image: say by whom.
    for (const s of secrets) {
      if (!s.inFinalFilesystem || s.layer === index + 1) continue;
      if (tree.get(s.path.slice(1))?.layer !== s.layer - 1) {
        s.inFinalFilesystem = false;
        s.hiddenByLayer = index + 1;
      }
    }
  }
  const t1 = performance.now();
  const files = new Map<string, Buffer>();
  for (const [path, list] of versions) {
    const last = list[list.length - 1]!;
    if (last.data) files.set(path, last.data);
  }
  const permissions = permissionFindings(tree);
  return { files, versions, secrets, permissions, timings: { readLayers: t1 - t0, permissions: performance.now() - t1 }, layers: image.layers.length };
}

/**
 * Bring each wanted path's history up to date after layer `index` was applied: a version when the tree shows
 * the path from this layer, a removal when the version recorded last is no longer what the tree shows. The tree
 * decides, not the tar: a path written twice in one tar, or hidden by the layer's own opaque marker, ends up
 * as the tree has it.
 */
function recordVersions(versions: Map<string, FileVersion[]>, written: Map<string, Buffer | undefined>, tree: FileTree, index: number): void {
  for (const [path, data] of written) {
    if (tree.get(path)?.layer !== index) continue;
    const list = versions.get(path) ?? [];
    list.push(data ? { layer: index + 1, data } : { layer: index + 1 });
    versions.set(path, list);
  }
  for (const [path, list] of versions) {
    const last = list[list.length - 1]!;
    if (last.layer === index + 1 || !last.data) continue;
    if (tree.get(path)?.layer !== last.layer - 1) list.push({ layer: index + 1 });
  }
}

/** setuid/setgid regular files, world-writable paths (not symlinks, not sticky directories), capabilities. */
function permissionFindings(tree: FileTree): PermissionFinding[] {
  const out: PermissionFinding[] = [];
  for (const path of tree.paths()) {
    const node = tree.get(path)!;
    if (node.implicit) continue;
    const e = node.entry;
    const base = (kind: PermissionFinding['kind']): PermissionFinding => ({ kind, path: `/${path}`, layer: node.layer + 1, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, type: e.type });
    const regular = e.type === 'file' || e.type === 'hardlink';
    if (regular && e.mode & 0o4000) out.push(base('setuid'));
    if (regular && e.mode & 0o2000 && e.mode & 0o010) out.push(base('setgid')); // g+s without g+x is mandatory locking, not setgid
    if (e.type !== 'symlink' && e.mode & 0o002 && !(e.type === 'dir' && e.mode & 0o1000)) out.push(base('world-writable'));
    if (hasCapabilities(node)) out.push(base('capabilities'));
  }
  return out;
}

function hasCapabilities(node: FileNode): boolean {
  return node.entry.xattrs?.['security.capability'] !== undefined;
}
