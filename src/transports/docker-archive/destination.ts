import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { digestAlgorithm, type Digest } from '../../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { TarWriter } from '../../archive/tar.js';
import { MediaType } from '../../oci/media-types.js';
import { MAX_CONFIG_BYTES, parseConfig, parseManifest } from '../../oci/manifest.js';
import type { Descriptor } from '../../oci/types.js';
import { parseDockerReference, type DockerReference } from '../../reference/index.js';
import { fsyncDir, streamToFile, tempPathBeside } from '../../util/fs.js';
import type { Context, DestinationCapabilities, ImageDestination, PutBlobExpectation } from '../types.js';
import { configFileName, layerFileName, legacyLayers, manifestJson, repositoriesJson } from './gojson.js';
import type { DockerArchiveReference } from './reference.js';

export interface DockerArchiveDestinationOptions {
  /**
   * Replace an existing non-empty file at the path. Default false: like skopeo ("docker-archive doesn't
   * support modifying existing images"), an existing archive is refused with DESTINATION_EXISTS.
   */
  overwrite?: boolean;
  /** More tags for the image, besides the reference's own (skopeo copy --additional-tag). */
  additionalTags?: (DockerReference | string)[];
}

export const DOCKER_ARCHIVE_CAPABILITIES: DestinationCapabilities = Object.freeze({
  manifestTypes: Object.freeze([MediaType.DockerManifest]),
  acceptsIndex: false,
  concurrentPutBlob: true,
  layerCompression: 'decompress',
});

interface StagedBlob {
  path: string;
  size: number;
}

interface PendingImage {
  configDigest: Digest;
  configBytes: Buffer;
  layers: Digest[];
}

/** Where the archive goes: a new or replaced regular file (atomic rename), or a pipe/device (written directly). */
type TargetKind = 'file' | 'stream';

/**
 * Writes a `docker save` archive, in the layout containers/image writes (so skopeo, podman and docker load
 * it, and a copy by wharf is byte-identical to one by skopeo): `<hex>.tar` layers (uncompressed, named by
 * diff_id), `<hex>.json` config, legacy `<id>/{layer.tar,VERSION,json}` folders, `manifest.json` and
 * `repositories`.
 *
 * Blobs are staged (hashed and verified) in a scratch folder; commit() writes the tar to a temporary file
 * beside the destination and renames it into place, so an uncommitted or failed copy leaves the path as it
 * was.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly capabilities = DOCKER_ARCHIVE_CAPABILITIES;
  private readonly blobs = new Map<Digest, StagedBlob>();
  private readonly repoTags: DockerReference[] = [];
  private image: PendingImage | undefined;
  private tempTar: string | undefined;
  private committed = false;
  private closed = false;

  private constructor(
    readonly reference: DockerArchiveReference,
    private readonly target: string,
    private readonly kind: TargetKind,
    private readonly staging: string,
    private readonly ctx: Context,
    private readonly overwrite: boolean,
  ) {
    if (reference.ref) this.repoTags.push(reference.ref);
  }

  static async open(
    reference: DockerArchiveReference,
    ctx: Context = {},
    options: DockerArchiveDestinationOptions = {},
  ): Promise<DockerArchiveDestination> {
    if (reference.index !== undefined) {
      throw new WharfError('INVALID_REFERENCE', `${reference.toString()}: @${reference.index} selects an image to read, not a place to write`, {
        hint: 'write to docker-archive:PATH or docker-archive:PATH:NAME:TAG',
      });
    }
    const overwrite = options.overwrite ?? false;
    const { target, kind } = await checkTarget(reference.path, overwrite);
    let staging: string;
    try {
      staging = await fsp.mkdtemp(join(ctx.tmpDir ?? dirname(target), '.wharf-docker-archive-'));
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `preparing to write ${reference.toString()}`);
    }
    const dest = new DockerArchiveDestination(reference, target, kind, staging, ctx, overwrite);
    if (options.additionalTags?.length) dest.addRepoTags(options.additionalTags);
    return dest;
  }

  /** Add tags (normalised, `latest` when none) the image will be listed under in manifest.json. */
  addRepoTags(tags: (DockerReference | string)[]): void {
    for (const t of tags) {
      const ref = (typeof t === 'string' ? parseDockerReference(t) : t).tagNameOnly();
      if (ref.digest) {
        throw new WharfError('INVALID_REFERENCE', `tag ${ref.toString()} has a digest; docker-archive stores NAME:TAG only`);
      }
      if (!this.repoTags.some((r) => r.toString() === ref.toString())) this.repoTags.push(ref);
    }
  }

  async tryReuseBlob(descriptor: Descriptor): Promise<boolean> {
    return this.blobs.has(descriptor.digest);
  }

  async putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor> {
    this.checkWritable();
    if (expected.digest && digestAlgorithm(expected.digest) !== 'sha256') {
      stream.destroy();
      throw new WharfError('UNSUPPORTED', `docker-archive stores sha256 blobs only, not ${expected.digest}`);
    }
    const incoming = join(this.staging, `incoming-${randomBytes(8).toString('hex')}`);
    const { digest, size } = await streamToFile(
      stream,
      incoming,
      { digest: expected.digest, size: expected.size, where: `blob ${expected.digest ?? '(new)'} for ${this.reference.toString()}` },
      signal ?? this.ctx.signal,
    );
    if (this.blobs.has(digest)) {
      await fsp.rm(incoming, { force: true });
    } else {
      const path = join(this.staging, digest.replace(':', '-'));
      await fsp.rename(incoming, path);
      this.blobs.set(digest, { path, size });
    }
    return { mediaType: expected.mediaType, digest, size };
  }

  async putManifest(bytes: Buffer, mediaType: string, instance?: Digest): Promise<void> {
    this.checkWritable();
    const where = `manifest for ${this.reference.toString()}`;
    if (instance !== undefined) {
      throw new WharfError('UNSUPPORTED', `${this.reference.toString()}: docker-archive holds single images, not an index`, {
        hint: 'copy one platform of the index (without --all)',
      });
    }
    const parsed = parseManifest(bytes, mediaType || undefined, where);
    if (parsed.kind !== 'image' || parsed.mediaType !== MediaType.DockerManifest) {
      throw new WharfError('MANIFEST_UNSUPPORTED', `${where}: docker-archive stores Docker schema 2 manifests, not ${parsed.mediaType}`, {
        hint: 'convert it to Docker schema 2 (--format v2s2)',
      });
    }
    const m = parsed.manifest;
    const configBlob = this.blobs.get(m.config.digest);
    if (!configBlob) {
      throw new NotFoundError('BLOB_UNKNOWN', `${where}: config ${m.config.digest} was not put before the manifest`);
    }
    if (configBlob.size > MAX_CONFIG_BYTES) {
      throw new WharfError('TOO_LARGE', `${where}: config is ${configBlob.size} bytes, more than the ${MAX_CONFIG_BYTES}-byte limit`);
    }
    const configBytes = await fsp.readFile(configBlob.path);
    const config = parseConfig(configBytes, `${where}: config`);
    const diffIDs = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIDs)) throw new WharfError('CONFIG_INVALID', `${where}: the config has no rootfs.diff_ids`);
    if (diffIDs.length !== m.layers.length) {
      throw new WharfError('MANIFEST_INVALID', `${where}: ${m.layers.length} layers but the config lists ${diffIDs.length} diff_ids`);
    }
    for (const [i, layer] of m.layers.entries()) {
      if (layer.digest !== diffIDs[i]) {
        throw new WharfError(
          'MANIFEST_INVALID',
          `${where}: layer ${i + 1} is ${layer.digest} but the config's diff_id is ${diffIDs[i]}`,
          {
            hint: 'docker-archive stores uncompressed layers, named by their diff_id: copy with layer decompression (the default for docker-archive)',
          },
        );
      }
      const staged = this.blobs.get(layer.digest);
      if (!staged) throw new NotFoundError('BLOB_UNKNOWN', `${where}: layer ${layer.digest} was not put before the manifest`);
      if (layer.size >= 0 && layer.size !== staged.size) {
        throw new WharfError('SIZE_MISMATCH', `${where}: layer ${layer.digest} is ${staged.size} bytes but the manifest says ${layer.size}`);
      }
    }
    this.image = { configDigest: m.config.digest, configBytes, layers: m.layers.map((l) => l.digest) };
  }

  async commit(): Promise<void> {
    this.checkWritable();
    const image = this.image;
    if (!image) {
      throw new WharfError('USAGE', `${this.reference.toString()}: nothing to commit, no manifest was put`);
    }
    const signal = this.ctx.signal;
    if (this.kind === 'file' && !this.overwrite) await checkTarget(this.target, false);

    let fh: fsp.FileHandle | undefined;
    const out = this.kind === 'file' ? tempPathBeside(this.target) : this.target;
    if (this.kind === 'file') this.tempTar = out;
    try {
      fh = await fsp.open(out, this.kind === 'file' ? 'wx' : 'w', 0o644);
      const stream = fileHandleWriter(fh);
      const tar = new TarWriter(stream, signal);
      await this.writeArchive(tar, image);
      await tar.finish();
      if (this.kind === 'file') await fh.sync();
      await fh.close();
      fh = undefined;
      if (this.kind === 'file') {
        await fsp.rename(out, this.target);
        this.tempTar = undefined;
        await fsyncDir(dirname(this.target));
      }
    } catch (err) {
      await fh?.close().catch(() => {});
      if (this.tempTar) await fsp.rm(this.tempTar, { force: true });
      this.tempTar = undefined;
      throw asWharfError(err, 'IO_ERROR', `writing ${this.reference.toString()}`);
    }
    this.committed = true;
    await fsp.rm(this.staging, { recursive: true, force: true }).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tempTar) await fsp.rm(this.tempTar, { force: true }).catch(() => {});
    await fsp.rm(this.staging, { recursive: true, force: true }).catch(() => {});
  }

  /** The archive, in the order containers/image writes it. */
  private async writeArchive(tar: TarWriter, image: PendingImage): Promise<void> {
    const fileOpts = { mode: 0o444 };
    const written = new Set<Digest>();
    for (const digest of image.layers) {
      if (written.has(digest)) continue;
      written.add(digest);
      const blob = this.blobs.get(digest)!;
      const source = createReadStream(blob.path, { highWaterMark: 1 << 20 });
      try {
        await tar.addFile(layerFileName(digest), blob.size, source, fileOpts);
      } finally {
        source.destroy();
      }
    }
    await tar.addFile(configFileName(image.configDigest), image.configBytes.length, image.configBytes, fileOpts);

    const legacy = legacyLayers(image.layers, image.configBytes);
    const seen = new Set<string>();
    for (const l of legacy) {
      if (seen.has(l.id)) continue;
      seen.add(l.id);
      await tar.addSymlink(`${l.id}/layer.tar`, `../${layerFileName(l.digest)}`, { mode: 0 });
      await tar.addFile(`${l.id}/VERSION`, 3, Buffer.from('1.0'), fileOpts);
      await tar.addFile(`${l.id}/json`, l.json.length, l.json, fileOpts);
    }

    const tags = this.repoTags.map((r) => `${r.name()}:${r.tag}`);
    const manifest = manifestJson([
      { config: configFileName(image.configDigest), repoTags: tags, layers: image.layers.map(layerFileName) },
    ]);
    await tar.addFile('manifest.json', manifest.length, manifest, fileOpts);

    const repositories = new Map<string, Map<string, string>>();
    const top = legacy[legacy.length - 1];
    if (top) {
      for (const r of this.repoTags) {
        let tagsOf = repositories.get(r.name());
        if (!tagsOf) repositories.set(r.name(), (tagsOf = new Map()));
        tagsOf.set(r.tag!, top.id);
      }
    }
    const repos = repositoriesJson(repositories);
    await tar.addFile('repositories', repos.length, repos, fileOpts);
  }

  private checkWritable(): void {
    if (this.closed) throw new WharfError('USAGE', `${this.reference.toString()}: the destination is closed`);
    if (this.committed) throw new WharfError('USAGE', `${this.reference.toString()}: the destination is already committed`);
  }
}

/** Decide how the archive path can be written; refuse directories and (without overwrite) non-empty files. */
async function checkTarget(path: string, overwrite: boolean): Promise<{ target: string; kind: TargetKind }> {
  let st;
  let target = path;
  try {
    st = await fsp.stat(path);
    target = await fsp.realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // A dangling symlink would be replaced by the rename, not followed; refuse to guess.
      const lst = await fsp.lstat(path).catch(() => undefined);
      if (lst?.isSymbolicLink()) {
        throw new WharfError('USAGE', `${path} is a symbolic link to a missing file`, { hint: 'write to the real path' });
      }
      return { target: path, kind: 'file' };
    }
    throw asWharfError(err, 'IO_ERROR', `checking ${path}`);
  }
  if (st.isDirectory()) {
    throw new WharfError('USAGE', `${path} is a directory`, { hint: 'docker-archive:PATH names the tar file to write' });
  }
  if (!st.isFile()) return { target, kind: 'stream' };
  if (st.size > 0 && !overwrite) {
    throw new WharfError('DESTINATION_EXISTS', `${path} already exists; docker-archive does not add images to an existing archive`, {
      hint: 'remove it, or write to another path',
    });
  }
  return { target, kind: 'file' };
}

/**
 * A Writable over an open FileHandle that leaves the handle open, so the caller can fsync and close it.
 * (FileHandle.createWriteStream with autoClose: false makes a later close() hang after sync() on Node 20.)
 */
function fileHandleWriter(fh: fsp.FileHandle): Writable {
  const writeAll = async (buf: Buffer): Promise<void> => {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
  };
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      writeAll(chunk).then(() => cb(), cb);
    },
    writev(chunks, cb) {
      writeAll(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), cb);
    },
  });
}
