import { Readable, Writable, pipeline as pipelineCb, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { digestOf, parseDigest, type Digest } from '../../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { readTarEntry, readTarEntryBuffer, type TarEntry, type TarFile } from '../../archive/tar.js';
import { MediaType } from '../../oci/media-types.js';
import { MAX_CONFIG_BYTES, parseConfig } from '../../oci/manifest.js';
import type { Descriptor } from '../../oci/types.js';
import type { BlobStream, Context, ImageSource, ManifestBlob } from '../types.js';
import { DockerArchiveReader, normalizeRepoTag, readHead, sniffCompression, type ArchiveManifestItem } from './archive.js';
import { synthesizeSchema2Manifest } from './gojson.js';
import type { DockerArchiveReference } from './reference.js';

interface LayerFile {
  entry: TarEntry;
  /** Size of the layer as served: the stored size, or the decompressed size when the file is compressed. */
  size: number;
  compression: 'none' | 'gzip' | 'zstd';
}

/**
 * An image inside a `docker save` archive. Nothing is extracted: the archive is indexed once and the config
 * and layers are served from byte ranges of it.
 *
 * The manifest is synthesized exactly as containers/image does (so its digest is the one skopeo reports):
 * a Docker schema 2 manifest whose layers are named by the config's diff_ids, sized as the uncompressed
 * layer, and labelled with the gzip layer media type even though they are plain tars. Layer files stored
 * compressed are therefore decompressed while they are served, so what is served matches its diff_id.
 * Nothing is hashed here: the copy engine verifies every blob against its digest while it streams.
 */
export class DockerArchiveSource implements ImageSource {
  private closed = false;

  private constructor(
    readonly reference: DockerArchiveReference,
    private readonly archive: DockerArchiveReader,
    /** The manifest.json item this source reads, and its index. */
    readonly item: ArchiveManifestItem,
    readonly itemIndex: number,
    private readonly manifestBytes: Buffer,
    readonly manifestDigest: Digest,
    private readonly configBytes: Buffer,
    readonly configDigest: Digest,
    private readonly layers: Map<Digest, LayerFile>,
  ) {}

  static async open(reference: DockerArchiveReference, ctx: Context = {}): Promise<DockerArchiveSource> {
    const archive = await DockerArchiveReader.open(reference.path, ctx);
    try {
      return await DockerArchiveSource.load(reference, archive, ctx);
    } catch (err) {
      await archive.close();
      throw err;
    }
  }

  private static async load(reference: DockerArchiveReference, archive: DockerArchiveReader, ctx: Context): Promise<DockerArchiveSource> {
    const where = reference.toString();
    const { item, index } = archive.choose(reference.ref, reference.index);

    const configEntry = archive.resolve(item.Config, 'config');
    const configBytes = await readTarEntryBuffer(archive.file, configEntry, MAX_CONFIG_BYTES);
    const config = parseConfig(configBytes, `${where}: config ${item.Config}`);
    if (!config.rootfs || !Array.isArray(config.rootfs.diff_ids)) {
      throw new WharfError('CONFIG_INVALID', `${where}: config ${item.Config} has no rootfs.diff_ids`, {
        hint: 'the archive is not a valid docker save archive',
      });
    }
    const diffIDs = config.rootfs.diff_ids.map((d, i) => {
      try {
        return parseDigest(d);
      } catch (err) {
        throw new WharfError('CONFIG_INVALID', `${where}: config rootfs.diff_ids[${i}]: ${(err as Error).message}`, { cause: err });
      }
    });
    if (diffIDs.length !== item.Layers.length) {
      throw new WharfError(
        'ARCHIVE_INVALID',
        `${where}: manifest.json lists ${item.Layers.length} layers but the config has ${diffIDs.length} diff_ids`,
        { hint: 'the archive is inconsistent; re-create it' },
      );
    }

    const layers = new Map<Digest, LayerFile>();
    const pathToDiffID = new Map<string, Digest>();
    for (const [i, diffID] of diffIDs.entries()) {
      if (layers.has(diffID)) continue; // the same layer twice in one image: docker save links the copies
      const name = item.Layers[i]!;
      const entry = archive.resolve(name, `layer ${i + 1} of ${item.Layers.length}`);
      const key = `${entry.dataOffset}`;
      const other = pathToDiffID.get(key);
      if (other !== undefined && other !== diffID) {
        throw new WharfError('ARCHIVE_INVALID', `${where}: layer file ${name} is used for two different diff_ids (${other} and ${diffID})`);
      }
      pathToDiffID.set(key, diffID);
      layers.set(diffID, await describeLayer(archive.file, entry, where, name, ctx.signal));
    }

    const configDigest = digestOf(configBytes);
    const manifestBytes = synthesizeSchema2Manifest(
      { digest: configDigest, size: configBytes.length },
      diffIDs.map((d) => ({ digest: d, size: layers.get(d)!.size })),
    );
    return new DockerArchiveSource(reference, archive, item, index, manifestBytes, digestOf(manifestBytes), configBytes, configDigest, layers);
  }

  async getManifest(instance?: Digest): Promise<ManifestBlob> {
    this.checkOpen();
    if (instance !== undefined && instance !== this.manifestDigest) {
      throw new NotFoundError('MANIFEST_UNKNOWN', `${this.reference.toString()} has no manifest ${instance}`, {
        hint: 'a docker-archive image has a single manifest, never an index',
      });
    }
    return { bytes: Buffer.from(this.manifestBytes), mediaType: MediaType.DockerManifest };
  }

  async getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    this.checkOpen();
    if (signal?.aborted) throw new WharfError('ABORTED', 'operation aborted');
    if (descriptor.digest === this.configDigest) {
      return { stream: Readable.from([Buffer.from(this.configBytes)]), size: this.configBytes.length };
    }
    const layer = this.layers.get(descriptor.digest);
    if (!layer) {
      throw new NotFoundError('BLOB_UNKNOWN', `blob ${descriptor.digest} is not in ${this.reference.toString()}`, {
        hint: 'a docker-archive source serves its config and its layers by diff_id',
      });
    }
    const raw = readTarEntry(this.archive.file, layer.entry, signal);
    if (layer.compression === 'none') return { stream: raw, size: layer.size };
    const decompressor = newDecompressor(layer.compression, this.reference.toString());
    const stream = pipelineCb(raw, decompressor, () => {
      // Errors surface on the returned stream; nothing else to do here.
    });
    return { stream, size: layer.size };
  }

  /** The image's RepoTags from manifest.json, in the full normalised form (`docker.io/library/busybox:latest`). */
  repoTags(): string[] {
    return this.item.RepoTags.map(normalizeRepoTag);
  }

  /** Every image of the archive, as listed in its manifest.json. */
  archiveItems(): readonly ArchiveManifestItem[] {
    return this.archive.items;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.archive.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new WharfError('USAGE', `${this.reference.toString()}: the source is closed`);
  }
}

function newDecompressor(compression: 'gzip' | 'zstd', where: string): Transform {
  if (compression === 'gzip') return zlib.createGunzip({ chunkSize: 1 << 20 });
  const zstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (!zstd) {
    throw new WharfError('COMPRESSION_UNAVAILABLE', `${where}: a layer file is zstd-compressed and this Node.js cannot decompress zstd`, {
      hint: 'use Node.js 22.15 or newer, or re-create the archive with uncompressed layers',
    });
  }
  return zstd();
}

async function describeLayer(tarPath: TarFile, entry: TarEntry, where: string, name: string, signal?: AbortSignal): Promise<LayerFile> {
  const sniffed = sniffCompression(await readHead(tarPath, entry.dataOffset, Math.min(8, entry.size)));
  if (sniffed === 'none') return { entry, size: entry.size, compression: 'none' };
  if (sniffed !== 'gzip' && sniffed !== 'zstd') {
    throw new WharfError('UNSUPPORTED', `${where}: layer file ${name} is ${sniffed}-compressed`, {
      hint: 'docker-archive layers are plain tars (gzip and zstd are also read)',
    });
  }
  // The manifest gives the uncompressed size, as containers/image does: count it once.
  let size = 0;
  const counter = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      cb();
    },
  });
  try {
    await pipeline(readTarEntry(tarPath, entry), newDecompressor(sniffed, where), counter, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof WharfError) throw err;
    if ((err as Error).name === 'AbortError') throw asWharfError(err);
    throw new WharfError('ARCHIVE_INVALID', `${where}: layer file ${name} is ${sniffed}-compressed but cannot be decompressed: ${(err as Error).message}`, {
      hint: 'the layer is corrupt or truncated',
      cause: err,
    });
  }
  return { entry, size, compression: sniffed };
}
