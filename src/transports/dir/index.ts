/**
 * The `dir:` transport: one image in a plain directory, in the layout skopeo and the containers tools write
 * ("Directory Transport Version: 1.1"):
 *
 *   PATH/version                       "Directory Transport Version: 1.1\n"
 *   PATH/manifest.json                 the top-level manifest, byte for byte (no media type is stored)
 *   PATH/<hex>                         every blob (config, layers), named by the encoded part of its digest
 *   PATH/<instance-hex>.manifest.json  each child manifest of an index (copy --all)
 *
 * containers/image names blobs by the encoded part only, whatever the algorithm (a sha512 name is simply
 * 128 characters long), and so do we.
 *
 * Unlike skopeo, which clears PATH and writes into it in place, the destination writes into a hidden staging
 * directory beside PATH and swaps it in on commit, so a failed or interrupted copy leaves PATH as it was.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { digestHex, digestOf, parseDigest, digestAlgorithm, type Digest } from '../../digest/index.js';
import { DigestMismatchError, NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { MAX_MANIFEST_BYTES, guessMediaType } from '../../oci/manifest.js';
import { ALL_MANIFEST_TYPES } from '../../oci/media-types.js';
import type { Descriptor } from '../../oci/types.js';
import type { DockerReference } from '../../reference/index.js';
import { BLOB_READ_CHUNK, fsyncDir, streamToFile } from '../../util/fs.js';
import type {
  BlobStream,
  Context,
  DestinationCapabilities,
  ImageDestination,
  ImageReference,
  ImageSource,
  ManifestBlob,
  PutBlobExpectation,
  Transport,
} from '../types.js';

/** The exact contents of the `version` file skopeo writes and checks. */
export const DIR_VERSION = 'Directory Transport Version: 1.1\n';
const VERSION_PREFIX = 'Directory Transport Version:';
const MANIFEST_FILE = 'manifest.json';
const VERSION_FILE = 'version';

/** Where a dir: image lives. The path is kept as the user wrote it (relative paths resolve against the cwd). */
export class DirReference implements ImageReference {
  readonly transport: Transport = dirTransport;

  constructor(readonly path: string) {}

  toString(): string {
    return `dir:${this.path}`;
  }

  dockerReference(): DockerReference | undefined {
    return undefined;
  }

  newSource(ctx: Context = {}): Promise<ImageSource> {
    return DirImageSource.open(this, ctx);
  }

  newDestination(ctx: Context = {}): Promise<ImageDestination> {
    return DirImageDestination.open(this, ctx);
  }

  /** The file holding the top-level manifest, or the child `instance` of an index. */
  manifestPath(instance?: Digest): string {
    if (instance === undefined) return join(this.path, MANIFEST_FILE);
    return join(this.path, `${digestHex(checkedDigest(instance, 'manifest instance'))}.manifest.json`);
  }

  /** The file holding a blob. The digest is validated first, so it can never name a path outside PATH. */
  blobPath(digest: Digest): string {
    return join(this.path, digestHex(checkedDigest(digest, 'blob')));
  }
}

export const dirTransport: Transport = {
  name: 'dir',
  parse(within: string): DirReference {
    if (within.length === 0) {
      throw new WharfError('INVALID_REFERENCE', 'invalid dir: reference: the path is empty', {
        hint: 'write it as dir:PATH, e.g. dir:./image',
      });
    }
    if (within.includes('\0')) {
      throw new WharfError('INVALID_REFERENCE', 'invalid dir: reference: the path contains a NUL character');
    }
    return new DirReference(within);
  },
};

// ---------------------------------------------------------------------------------------------------------
// Source

export class DirImageSource implements ImageSource {
  private constructor(readonly reference: DirReference) {}

  static async open(ref: DirReference, ctx: Context = {}): Promise<DirImageSource> {
    throwIfAborted(ctx.signal);
    let st: Stats;
    try {
      st = await fsp.stat(ref.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError('IMAGE_NOT_FOUND', `${ref}: no such directory`, {
          hint: 'check the path; a dir: image is a directory holding manifest.json and version',
          cause: err,
        });
      }
      throw asWharfError(err, 'IO_ERROR', `opening ${ref}`);
    }
    if (!st.isDirectory()) {
      throw new WharfError('LAYOUT_INVALID', `${ref}: not a directory`, {
        hint: 'a dir: image is a directory holding manifest.json and version',
      });
    }
    const version = await fsp.readFile(join(ref.path, VERSION_FILE), 'utf8').catch(() => undefined);
    if (version !== undefined && version !== DIR_VERSION) {
      ctx.logger?.warn(`${ref}: unexpected version file ${JSON.stringify(version.slice(0, 60))}; reading it as version 1.1`);
    }
    return new DirImageSource(ref);
  }

  async getManifest(instance?: Digest, signal?: AbortSignal): Promise<ManifestBlob> {
    throwIfAborted(signal);
    const path = this.reference.manifestPath(instance);
    const what = instance ? `manifest ${instance}` : 'manifest.json';
    const bytes = await readCapped(path, MAX_MANIFEST_BYTES, `${what} in ${this.reference}`).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError('MANIFEST_UNKNOWN', `${this.reference}: ${what} not found`, {
          hint: instance
            ? 'the directory holds only the top-level image; copy the index with --all to keep every instance'
            : 'this directory does not hold a dir: image (no manifest.json)',
          cause: err,
        });
      }
      throw asWharfError(err, 'IO_ERROR', `reading ${what} from ${this.reference}`);
    });
    if (instance !== undefined) {
      const actual = digestOf(bytes, digestAlgorithm(instance));
      if (actual !== instance) throw new DigestMismatchError(instance, actual, `${what} in ${this.reference}`);
    }
    return { bytes, mediaType: sniffMediaType(bytes) };
  }

  async getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    throwIfAborted(signal);
    const path = this.reference.blobPath(descriptor.digest);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError('BLOB_UNKNOWN', `${this.reference}: blob ${descriptor.digest} not found`, {
          hint: 'the directory is incomplete; copy the image into it again',
          cause: err,
        });
      }
      throw asWharfError(err, 'IO_ERROR', `opening blob ${descriptor.digest} in ${this.reference}`);
    }
    let size: number;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new WharfError('LAYOUT_INVALID', `${this.reference}: blob ${descriptor.digest} is not a regular file`);
      size = st.size;
    } catch (err) {
      await fh.close().catch(() => {});
      throw asWharfError(err, 'IO_ERROR', `reading blob ${descriptor.digest} in ${this.reference}`);
    }
    const stream = fh.createReadStream({ highWaterMark: BLOB_READ_CHUNK, autoClose: true });
    if (signal) addAbortSignal(signal, stream);
    return { stream, size };
  }

  repoTags(): string[] {
    return [];
  }

  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------------------
// Destination

/** What is at PATH before we replace it. */
type Existing = 'absent' | 'empty' | 'dir-layout';

export class DirImageDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = {
    manifestTypes: ALL_MANIFEST_TYPES,
    acceptsIndex: true,
    concurrentPutBlob: true,
    layerCompression: 'preserve',
  };

  private state: 'open' | 'committed' | 'closed' = 'open';
  private hasManifest = false;
  /** Blobs this destination has stored and verified (it starts empty: nothing at PATH is reused). */
  private readonly stored = new Map<Digest, number>();

  private constructor(
    readonly reference: DirReference,
    /** The directory replaced on commit (PATH, or what its symlink points at). */
    private readonly target: string,
    private readonly staging: string,
    /** The first parent directory we had to create for the staging directory, removed again on close without commit. */
    private readonly createdParent: string | undefined,
    private readonly ctx: Context,
  ) {}

  static async open(ref: DirReference, ctx: Context = {}): Promise<DirImageDestination> {
    throwIfAborted(ctx.signal);
    let target = resolve(ref.path);
    // A symlink to a directory: replace the directory it points at, keep the link.
    const lst = await fsp.lstat(target).catch(() => undefined);
    if (lst?.isSymbolicLink()) target = await fsp.realpath(target).catch(() => target);
    await inspectExisting(ref, target);

    const parent = dirname(target);
    let createdParent: string | undefined;
    try {
      createdParent = await fsp.mkdir(parent, { recursive: true });
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `creating ${parent}`);
    }
    const staging = join(parent, `.${basename(target)}.wharf-${randomBytes(6).toString('hex')}.staging`);
    try {
      await fsp.mkdir(staging, { mode: 0o755 });
      await fsp.writeFile(join(staging, VERSION_FILE), DIR_VERSION, { mode: 0o644 });
    } catch (err) {
      await fsp.rm(staging, { recursive: true, force: true }).catch(() => {});
      if (createdParent) await fsp.rm(createdParent, { recursive: true, force: true }).catch(() => {});
      throw asWharfError(err, 'IO_ERROR', `preparing ${ref}`);
    }
    return new DirImageDestination(ref, target, staging, createdParent, ctx);
  }

  async tryReuseBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    // The destination starts empty; only a blob this same destination already stored (an index whose
    // images share layers) can be reused.
    return this.stored.has(descriptor.digest);
  }

  async putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor> {
    this.assertOpen('putBlob');
    const sig = anySignal(signal, this.ctx.signal);
    if (expected.digest !== undefined) checkedDigest(expected.digest, 'blob');
    const where = `blob ${expected.digest ?? '(digest unknown)'} for ${this.reference}`;
    const tmp = join(this.staging, `.${randomBytes(8).toString('hex')}.partial`);
    const verify = {
      ...(expected.digest !== undefined ? { digest: expected.digest } : {}),
      ...(expected.size !== undefined ? { size: expected.size } : {}),
      where,
    };
    const written = await streamToFile(stream, tmp, verify, sig);
    try {
      await syncFile(tmp);
      await fsp.rename(tmp, join(this.staging, digestHex(written.digest)));
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw asWharfError(err, 'IO_ERROR', `storing ${where}`);
    }
    this.stored.set(written.digest, written.size);
    return { mediaType: expected.mediaType, digest: written.digest, size: written.size };
  }

  async putManifest(bytes: Buffer, _mediaType: string, instance?: Digest): Promise<void> {
    this.assertOpen('putManifest');
    throwIfAborted(this.ctx.signal);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new WharfError('TOO_LARGE', `manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    let name = MANIFEST_FILE;
    if (instance !== undefined) {
      checkedDigest(instance, 'manifest instance');
      const actual = digestOf(bytes, digestAlgorithm(instance));
      if (actual !== instance) throw new DigestMismatchError(instance, actual, `manifest instance for ${this.reference}`);
      name = `${digestHex(instance)}.manifest.json`;
    }
    const path = join(this.staging, name);
    try {
      const fh = await fsp.open(path, 'w', 0o644);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `writing ${name} for ${this.reference}`);
    }
    if (instance === undefined) this.hasManifest = true;
  }

  async commit(): Promise<void> {
    this.assertOpen('commit');
    throwIfAborted(this.ctx.signal);
    if (!this.hasManifest) {
      throw new WharfError('MANIFEST_UNKNOWN', `nothing to commit to ${this.reference}: no top-level manifest was written`, {
        hint: 'put the blobs, then the manifest, then commit',
      });
    }
    await fsyncDir(this.staging);
    const existing = await inspectExisting(this.reference, this.target);
    const parent = dirname(this.target);
    try {
      if (existing === 'dir-layout') {
        const backup = join(parent, `.${basename(this.target)}.wharf-${randomBytes(6).toString('hex')}.old`);
        await fsp.rename(this.target, backup);
        try {
          await fsp.rename(this.staging, this.target);
        } catch (err) {
          await fsp.rename(backup, this.target).catch(() => {});
          throw err;
        }
        this.state = 'committed';
        await fsyncDir(parent);
        await fsp.rm(backup, { recursive: true, force: true }).catch((err: unknown) => {
          this.ctx.logger?.warn(`could not remove the previous image at ${backup}: ${(err as Error).message}`);
        });
      } else {
        // POSIX rename replaces an empty directory atomically and fails when it is not empty, so a file
        // that appeared in PATH since we looked is never lost.
        await fsp.rename(this.staging, this.target);
        this.state = 'committed';
        await fsyncDir(parent);
      }
    } catch (err) {
      if (this.state === 'committed') return;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') {
        throw destinationExists(this.reference, 'it changed while the image was being written', err);
      }
      throw asWharfError(err, 'IO_ERROR', `committing ${this.reference}`);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const committed = this.state === 'committed';
    this.state = 'closed';
    if (committed) return;
    await fsp.rm(this.staging, { recursive: true, force: true }).catch((err: unknown) => {
      this.ctx.logger?.warn(`could not remove the staging directory ${this.staging}: ${(err as Error).message}`);
    });
    if (this.createdParent) await removeEmptyChain(this.createdParent, dirname(this.staging));
  }

  private assertOpen(what: string): void {
    if (this.state !== 'open') {
      throw new WharfError('USAGE', `${what} called on a dir: destination that is already ${this.state}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** Decide whether PATH may be replaced; throws DESTINATION_EXISTS when it holds something that is not ours. */
async function inspectExisting(ref: DirReference, target: string): Promise<Existing> {
  let st: Stats;
  try {
    st = await fsp.stat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw asWharfError(err, 'IO_ERROR', `checking ${ref}`);
  }
  if (!st.isDirectory()) throw destinationExists(ref, 'it exists and is not a directory');
  const entries = await fsp.readdir(target).catch((err: unknown) => {
    throw asWharfError(err, 'IO_ERROR', `listing ${ref}`);
  });
  if (entries.length === 0) return 'empty';
  if (entries.includes(VERSION_FILE)) {
    const version = await fsp.readFile(join(target, VERSION_FILE), 'utf8').catch(() => '');
    if (version.startsWith(VERSION_PREFIX)) return 'dir-layout';
  }
  throw destinationExists(ref, 'it is a non-empty directory that does not hold a dir: image');
}

function destinationExists(ref: DirReference, why: string, cause?: unknown): WharfError {
  return new WharfError('DESTINATION_EXISTS', `refusing to write ${ref}: ${why}`, {
    hint: 'give a path that does not exist, an empty directory, or a directory written by dir: (it is replaced as a whole)',
    cause,
  });
}

function checkedDigest(digest: string, what: string): Digest {
  try {
    return parseDigest(digest);
  } catch (err) {
    throw new WharfError('INVALID_DIGEST', `${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** The media type a dir: image does not store, guessed from the JSON the way containers/image does; '' if unknown. */
function sniffMediaType(bytes: Buffer): string {
  try {
    const json = JSON.parse(bytes.toString('utf8')) as unknown;
    if (!json || typeof json !== 'object' || Array.isArray(json)) return '';
    const obj = json as Record<string, unknown>;
    if (typeof obj.mediaType === 'string' && obj.mediaType.length > 0) return obj.mediaType;
    return guessMediaType(obj);
  } catch {
    return '';
  }
}

async function readCapped(path: string, cap: number, where: string): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new WharfError('LAYOUT_INVALID', `${where} is not a regular file`);
    if (st.size > cap) {
      throw new WharfError('TOO_LARGE', `${where} is ${st.size} bytes, more than the ${cap}-byte limit`, {
        hint: 'a manifest this large is almost certainly not a manifest; check the source',
      });
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

async function syncFile(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Remove `dir` (which we created) if nothing but our own, already removed, content was in it. */
async function removeEmptyChain(top: string, from: string): Promise<void> {
  let current = from;
  for (;;) {
    try {
      await fsp.rmdir(current);
    } catch {
      return;
    }
    if (current === top) return;
    const up = dirname(current);
    if (up === current || !current.startsWith(top)) return;
    current = up;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new WharfError('ABORTED', 'operation aborted', { cause: signal.reason });
}

function anySignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  return AbortSignal.any([a, b]);
}
