import type { Readable } from 'node:stream';

/** What a tar header in a layer says about one path, after PAX and GNU long-name records are applied. */
export interface LayerEntry {
  /**
   * The path inside the image, normalised: no leading `/` or `./`, no trailing `/`, no empty or `.` components
   * (`etc/os-release`, `usr/bin`). The root itself is `''`. Entries whose path contains `..` never get here:
   * the reader refuses them (see TarStreamOptions.onUnsafe).
   */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  /** Permission bits and setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Bytes of content (files only; 0 for everything else). */
  size: number;
  /** Seconds since the epoch, fractional when PAX gave sub-second precision. */
  mtime: number;
  /** Symlink target as written (may be absolute or relative), or the hard link's target path normalised like `path`. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX `SCHILY.xattr.*` records: extended attributes by name. */
  xattrs?: Record<string, Buffer>;
}

/** OCI whiteouts (image-spec layer.md), recognised from an entry's base name. */
export type Whiteout =
  /** `.wh.NAME`: NAME in the same directory, from lower layers, is removed. */
  | { kind: 'file'; target: string }
  /** `.wh..wh..opq`: everything the lower layers put in this directory is removed. */
  | { kind: 'opaque'; dir: string }
  /**
   * AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`, any other `.wh..wh.*`, and everything under such a directory):
   * not a whiteout and not content; the entry is ignored.
   */
  | { kind: 'aufs' };

/** One entry as the reader yields it: the header, and a stream of its content (files only). */
export interface LayerEntryWithBody {
  entry: LayerEntry;
  /** The file's bytes; must be read to its end or `resume()`d before the next entry is produced. */
  body?: Readable;
}
