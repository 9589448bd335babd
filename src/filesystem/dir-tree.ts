/**
 * A directory on disk (an unpacked image, the root filesystem of a container that ran) described the way an
 * image's FileTree describes its layers: every path with its type and metadata, from lstat alone. Symlinks are
 * never followed (a link loop, or a link to the host's /, is one symlink entry), nothing but a regular file is
 * ever opened (a FIFO or a device is compared by type, never read), and contents are read only when asked for,
 * one streamed hash per file.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { WharfError, asWharfError } from '../errors.js';

/** What a diff compares of one path (on disk or in an image). */
export interface DiffNode {
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** mode & 0o7777. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content (regular files only; 0 for everything else). */
  size: number;
  /** Modification time in whole seconds since the epoch. */
  mtime: number;
  /** A symlink's target as written; an unresolved hard link's target path. */
  linkname?: string;
  /** `major:minor` of a character or block device. */
  device?: string;
  /** On disk, a regular file with more than one link: `dev:ino`, the same for every name of the file. */
  inode?: string;
  /** A directory an image implies (a parent of deeper paths) without any layer naming it: its metadata is made up. */
  implicit?: boolean;
}

export interface DirTreeOptions {
  signal?: AbortSignal;
  /** lstat calls in flight at once (default 64). */
  concurrency?: number;
}

/** A directory tree's paths (normalised like LayerEntry.path: relative, `/`-separated; the root is ''). */
export class DirTree {
  private constructor(
    readonly root: string,
    private readonly nodes: Map<string, DiffNode>,
  ) {}

  /**
   * Walk `root` (which must be a directory; a symlink given as the root itself is followed, nothing below it is)
   * with lstat. An unreadable directory is IO_ERROR: a diff that silently skipped part of a tree would lie.
   */
  static async walk(root: string, options: DirTreeOptions = {}): Promise<DirTree> {
    const top = await fsp.stat(root).catch((err: unknown) => {
      throw asWharfError(err, 'IO_ERROR', `${root}`);
    });
    if (!top.isDirectory()) throw new WharfError('USAGE', `${root} is not a directory`, { hint: 'give an image reference (oci:DIR:TAG, docker://…) or a directory' });
    const nodes = new Map<string, DiffNode>();
    nodes.set('', nodeOf(top, undefined));
    const limit = Math.max(1, options.concurrency ?? 64);
    const pending: string[] = [''];
    while (pending.length > 0) {
      if (options.signal?.aborted) throw new WharfError('ABORTED', 'operation aborted');
      const rel = pending.pop()!;
      const abs = rel === '' ? root : join(root, rel);
      let names: string[];
      try {
        names = await fsp.readdir(abs);
      } catch (err) {
        throw asWharfError(err, 'IO_ERROR', `reading the directory ${abs}`);
      }
      names.sort();
      for (let i = 0; i < names.length; i += limit) {
        const batch = names.slice(i, i + limit);
        const stats = await Promise.all(
          batch.map(async (name) => {
            const p = join(abs, name);
            try {
              const st = await fsp.lstat(p);
              return { name, st, link: st.isSymbolicLink() ? await fsp.readlink(p) : undefined };
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // gone since readdir (a live container)
              throw asWharfError(err, 'IO_ERROR', `reading ${p}`);
            }
          }),
        );
        for (const s of stats) {
          if (!s) continue;
          const path = rel === '' ? s.name : `${rel}/${s.name}`;
          const node = nodeOf(s.st, s.link);
          nodes.set(path, node);
          if (node.type === 'dir') pending.push(path);
        }
      }
    }
    return new DirTree(root, nodes);
  }

  get(path: string): DiffNode | undefined {
    return this.nodes.get(path);
  }

  /** Every path but the root, sorted. */
  paths(): string[] {
    return [...this.nodes.keys()].filter((p) => p !== '').sort();
  }

  get size(): number {
    return this.nodes.size - 1;
  }

  /**
   * The sha256 (hex) of a regular file's content, streamed. Opened without following a symlink and without
   * blocking (a FIFO swapped in after the walk does not hang the diff), and checked to be a regular file.
   */
  async hash(path: string, signal?: AbortSignal): Promise<{ digest: string; bytes: number }> {
    const abs = join(this.root, path);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `reading ${abs}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new WharfError('IO_ERROR', `${abs} is no longer a regular file`, { hint: 'the directory changed during the diff; run it again' });
      const h = createHash('sha256');
      let bytes = 0;
      const stream = fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false, ...(signal ? { signal } : {}) });
      await pipeline(stream, async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          h.update(chunk);
          bytes += chunk.length;
        }
      });
      return { digest: h.digest('hex'), bytes };
    } catch (err) {
      if (err instanceof WharfError) throw err;
      if ((err as { name?: string }).name === 'AbortError') throw new WharfError('ABORTED', 'operation aborted', { cause: err });
      throw asWharfError(err, 'IO_ERROR', `reading ${abs}`);
    } finally {
      await fh.close();
    }
  }
}

function nodeOf(st: Stats, link: string | undefined): DiffNode {
  const node: DiffNode = {
    type: typeOf(st),
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.isFile() ? st.size : 0,
    mtime: Math.floor(st.mtimeMs / 1000),
  };
  if (link !== undefined) node.linkname = link;
  if (st.isFile() && st.nlink > 1) node.inode = `${st.dev}:${st.ino}`;
  if (node.type === 'char' || node.type === 'block') node.device = `${major(st.rdev)}:${minor(st.rdev)}`;
  return node;
}

function typeOf(st: Stats): DiffNode['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** glibc's gnu_dev_major/minor, on a number (rdev fits in 53 bits for every real device). */
function major(rdev: number): number {
  const hi = Math.floor(rdev / 2 ** 32) >>> 0;
  const lo = rdev >>> 0;
  return (((lo >>> 8) & 0xfff) | (hi & 0xfffff000)) >>> 0;
}

function minor(rdev: number): number {
  const hi = Math.floor(rdev / 2 ** 32) >>> 0;
  const lo = rdev >>> 0;
  return ((lo & 0xff) | ((lo >>> 12) & 0xfff00) | ((hi & 0xfff) << 20)) >>> 0;
}
