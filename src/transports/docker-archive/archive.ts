/**
 * Reading a `docker save` archive in place: the tar is indexed once (headers only) and every component is
 * then served from a byte range of the file. A gzip-compressed archive (which `docker load` accepts) is first
 * decompressed into a temporary file, since it cannot be read at random.
 */
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { indexTarFile, normalizeTarPath, readTarEntryBuffer, type TarEntry, type TarFile } from '../../archive/tar.js';
import { parseDockerReference, type DockerReference } from '../../reference/index.js';
import type { Context } from '../types.js';

/** The largest manifest.json read into memory (containers/image's limit too). */
export const MAX_ARCHIVE_MANIFEST_BYTES = 1 << 20;
/** Symlink / hard-link hops followed when resolving a component. */
const MAX_LINK_HOPS = 8;

/** One element of manifest.json. */
export interface ArchiveManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export type SniffedCompression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** Recognise a compressed stream by its first bytes. */
export function sniffCompression(head: Buffer): SniffedCompression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

export async function readHead(file: TarFile, offset: number, length: number): Promise<Buffer> {
  const fh = typeof file === 'string' ? await fsp.open(file, 'r') : file;
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    if (typeof file === 'string') await fh.close();
  }
}

export class DockerArchiveReader {
  private readonly byName = new Map<string, TarEntry>();

  private constructor(
    /** What the user named. */
    readonly displayPath: string,
    /** The plain tar actually read (a temporary file when the archive was compressed). */
    readonly tarPath: string,
    private readonly tempDir: string | undefined,
    readonly entries: TarEntry[],
    readonly items: ArchiveManifestItem[],
    /** The open tar file every read goes through (closed by close()). */
    readonly file: fsp.FileHandle,
  ) {}

  static async open(path: string, ctx: Context = {}): Promise<DockerArchiveReader> {
    let st;
    try {
      st = await fsp.stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError('IMAGE_NOT_FOUND', `docker-archive ${path} does not exist`, {
          hint: 'check the path; docker-archive:PATH names a tar file made by docker save or skopeo copy',
          cause: err,
        });
      }
      throw asWharfError(err, 'IO_ERROR', `opening docker-archive ${path}`);
    }
    if (!st.isFile()) {
      throw new WharfError('ARCHIVE_INVALID', `docker-archive ${path} is not a regular file`, {
        hint: st.isDirectory() ? 'for a directory of blobs use dir: or oci:' : 'docker-archive reads tar files',
      });
    }
    let tarPath = path;
    let tempDir: string | undefined;
    const compression = sniffCompression(await readHead(path, 0, 8));
    if (compression === 'gzip') {
      tempDir = await fsp.mkdtemp(join(ctx.tmpDir ?? tmpdir(), 'wharf-docker-archive-'));
      tarPath = join(tempDir, 'archive.tar');
      try {
        await pipeline(createReadStream(path), createGunzip(), createWriteStream(tarPath, { flags: 'wx' }), ctx.signal ? { signal: ctx.signal } : {});
      } catch (err) {
        await fsp.rm(tempDir, { recursive: true, force: true });
        throw new WharfError('ARCHIVE_INVALID', `docker-archive ${path}: cannot decompress it: ${(err as Error).message}`, {
          hint: 'the gzip stream is corrupt or truncated',
          cause: err,
        });
      }
    } else if (compression !== 'none') {
      throw new WharfError('UNSUPPORTED', `docker-archive ${path} is ${compression}-compressed`, {
        hint: `decompress it first (e.g. ${compression === 'zstd' ? 'zstd -d' : compression === 'xz' ? 'xz -d' : 'bunzip2'}), or gzip it`,
      });
    }
    let file: fsp.FileHandle | undefined;
    try {
      // One handle for the reader's whole life: a writer renaming a new archive over the path cannot make
      // the index and the reads disagree.
      file = await fsp.open(tarPath, 'r');
      const entries = await indexTarFile(file, ctx.signal);
      const reader = new DockerArchiveReader(path, tarPath, tempDir, entries, [], file);
      for (const e of entries) {
        const key = normalizeTarPath(e.name);
        if (key !== undefined && !reader.byName.has(key)) reader.byName.set(key, e);
      }
      const manifestEntry = reader.byName.get('manifest.json');
      if (!manifestEntry) {
        throw new WharfError('ARCHIVE_INVALID', `docker-archive ${path} has no manifest.json`, {
          hint: 'it is not a docker save / docker-archive tar (an OCI archive? use oci-archive:)',
        });
      }
      const bytes = await readTarEntryBuffer(file, reader.resolve('manifest.json', 'manifest.json'), MAX_ARCHIVE_MANIFEST_BYTES);
      reader.items.push(...parseArchiveManifest(bytes, path));
      return reader;
    } catch (err) {
      await file?.close().catch(() => {});
      if (tempDir) await fsp.rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The regular-file entry a component path names, following symlinks (relative to the link's folder) and
   * hard links (relative to the archive root). Throws ARCHIVE_INVALID when it is missing or not a file.
   */
  resolve(name: string, what: string): TarEntry {
    let current = normalizeTarPath(name);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const e = current === undefined ? undefined : this.byName.get(current);
      if (!e) break;
      if (e.type === 'file') return e;
      if (e.type === 'symlink') {
        current = e.linkname.startsWith('/')
          ? normalizeTarPath(e.linkname)
          : normalizeTarPath(posix.join(posix.dirname(current!), e.linkname));
      } else if (e.type === 'hardlink') {
        current = normalizeTarPath(e.linkname);
      } else {
        throw new WharfError('ARCHIVE_INVALID', `docker-archive ${this.displayPath}: ${what} "${name}" is a ${e.type}, not a file`);
      }
      if (hop === MAX_LINK_HOPS) {
        throw new WharfError('ARCHIVE_INVALID', `docker-archive ${this.displayPath}: ${what} "${name}" goes through too many links`);
      }
    }
    throw new WharfError('ARCHIVE_INVALID', `docker-archive ${this.displayPath}: ${what} "${name}" is missing from the archive`, {
      hint: 'the archive is incomplete or was edited; re-create it',
    });
  }

  /**
   * The image a reference selects: by tag (familiar or full form), by index, or the only image.
   * Returns the item and its index.
   */
  choose(ref: DockerReference | undefined, index: number | undefined): { item: ArchiveManifestItem; index: number } {
    if (ref) {
      const want = ref.toString();
      for (const [i, item] of this.items.entries()) {
        for (const tag of item.RepoTags) {
          if (normalizeRepoTag(tag) === want) return { item, index: i };
        }
      }
      throw new NotFoundError('IMAGE_NOT_FOUND', `docker-archive ${this.displayPath} has no image tagged ${ref.familiar()}`, {
        hint: `it holds: ${this.describe()}`,
      });
    }
    if (index !== undefined) {
      const item = this.items[index];
      if (!item) {
        throw new NotFoundError(
          'IMAGE_NOT_FOUND',
          `docker-archive ${this.displayPath} has no image @${index}: it holds ${this.items.length} image${this.items.length === 1 ? '' : 's'}`,
          { hint: `pick one of @0 to @${this.items.length - 1} (${this.describe()})` },
        );
      }
      return { item, index };
    }
    if (this.items.length !== 1) {
      throw new WharfError(
        'INVALID_REFERENCE',
        `docker-archive ${this.displayPath} holds ${this.items.length} images; say which one`,
        { hint: `append :NAME:TAG or :@N to the reference (it holds: ${this.describe()})` },
      );
    }
    return { item: this.items[0]!, index: 0 };
  }

  /** A short listing of the images: "@0 (busybox:latest), @1 (untagged)". */
  describe(): string {
    const parts = this.items.map((it, i) => {
      const tags = it.RepoTags.map((t) => {
        try {
          return parseDockerReference(t).familiar();
        } catch {
          return t;
        }
      });
      return `@${i} (${tags.length ? tags.join(', ') : 'untagged'})`;
    });
    const shown = parts.slice(0, 20).join(', ');
    return parts.length > 20 ? `${shown}, … ${parts.length - 20} more` : shown || 'no images';
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => {});
    if (this.tempDir) await fsp.rm(this.tempDir, { recursive: true, force: true });
  }
}

/** A RepoTags entry in the full form containers/image writes (`docker.io/library/busybox:latest`); as-is if unparsable. */
export function normalizeRepoTag(tag: string): string {
  try {
    return parseDockerReference(tag).toString();
  } catch {
    return tag;
  }
}

export function parseArchiveManifest(bytes: Buffer, where: string): ArchiveManifestItem[] {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new WharfError('ARCHIVE_INVALID', `docker-archive ${where}: manifest.json is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(json)) throw new WharfError('ARCHIVE_INVALID', `docker-archive ${where}: manifest.json is not a JSON array`);
  if (json.length === 0) throw new WharfError('ARCHIVE_INVALID', `docker-archive ${where}: manifest.json lists no images`);
  return json.map((raw, i) => {
    const at = `docker-archive ${where}: manifest.json item @${i}`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new WharfError('ARCHIVE_INVALID', `${at} is not an object`);
    const it = raw as Record<string, unknown>;
    if (typeof it.Config !== 'string' || it.Config.length === 0) throw new WharfError('ARCHIVE_INVALID', `${at} has no Config file name`);
    const tags = it.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw new WharfError('ARCHIVE_INVALID', `${at}: RepoTags is not a list of strings`);
    }
    if (!Array.isArray(it.Layers) || !it.Layers.every((l) => typeof l === 'string' && l.length > 0)) {
      throw new WharfError('ARCHIVE_INVALID', `${at}: Layers is not a list of file names`);
    }
    return { Config: it.Config, RepoTags: tags as string[], Layers: it.Layers as string[] };
  });
}
