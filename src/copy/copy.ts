import { Readable, type Duplex } from 'node:stream';
import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import { DigestingStream, digestOf, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';
import { compressor, decompressor, sniffCompression } from '../archive/compression.js';
import { HandOff } from '../archive/hand-off.js';
import {
  configMediaType,
  imageManifestType,
  indexType,
  manifestFormatOf,
  serializeImageManifest,
  serializeIndex,
} from '../oci/convert.js';
import { parseConfig, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { MediaType, layerCompression, layerMediaType, type Compression, type ManifestFormat } from '../oci/media-types.js';
import { chooseInstance, formatPlatform, hostPlatform, platformMatches } from '../oci/platform.js';
import { blobIntegrityError } from '../transports/verify-blob.js';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/types.js';
import { readSmallBlob } from '../transports/read-small.js';
import type { ImageDestination, ImageReference, ImageSource } from '../transports/types.js';
import type { RegistryAccess } from '../transports/docker/access.js';
import { Limiter, runPool } from './pool.js';
import { ProgressStream } from './progress-stream.js';
import type { CopyEvent, CopyOptions, CopyResult } from './types.js';

/** Blobs in flight at once: as containers/image does; enough to keep both a disk and a network busy. */
const DEFAULT_CONCURRENCY = 6;

/**
 * Copy an image (or, with `all`/`platforms`, an index and its images) from one reference to another.
 * Blobs stream from source to destination, verified in the same pass; the destination is committed only when
 * everything arrived, and left as it was otherwise.
 */
export async function copyImage(src: ImageReference, dest: ImageReference, options: CopyOptions = {}): Promise<CopyResult> {
  const source = await src.newSource(withRegistry(options, options.sourceRegistry));
  try {
    const destination = await dest.newDestination(withRegistry(options, options.destinationRegistry));
    try {
      const copier = new Copier(source, destination, options);
      const result = await copier.run();
      if (options.preserveDigests && result.digest !== copier.sourceDigest) {
        throw new WharfError('CONVERSION_UNSUPPORTED', `copying ${src} to ${dest} would change the manifest digest from ${copier.sourceDigest} to ${result.digest}`, {
          hint: `${dest.transport.name}: needs a converted image (format or layer compression); copy without --preserve-digests, or to a destination that stores it as it is`,
        });
      }
      await destination.commit();
      options.onEvent?.({ type: 'copy-done', digest: result.digest });
      return result;
    } finally {
      await destination.close();
    }
  } finally {
    await source.close();
  }
}

/** The context for one side of a copy: --src-creds and --dest-creds may differ. */
function withRegistry(options: CopyOptions, side: RegistryAccess | undefined): CopyOptions {
  return side ? { ...options, registry: side } : options;
}

interface WrittenManifest {
  digest: Digest;
  size: number;
  mediaType: string;
}

class Copier {
  private readonly emit: (e: CopyEvent) => void;
  private readonly controller = new AbortController();
  private readonly signal: AbortSignal;
  /** Blobs already handled in this copy (shared layers across the images of an index), by source digest. */
  private readonly blobs = new Map<Digest, Promise<Descriptor>>();
  /**
   * Recompressing or decompressing layers is CPU work: more of them at once than there are cores only adds
   * memory (each holds blocks in flight), not speed. Plain copies are not limited by this.
   */
  private readonly transforms = new Limiter(Math.max(2, availableParallelism()));
  /** The digest of the manifest the source offers for what is copied (an instance, when one is picked). */
  sourceDigest: Digest | undefined;
  private bytesWritten = 0;
  private blobsCopied = 0;
  private blobsSkipped = 0;

  constructor(
    private readonly source: ImageSource,
    private readonly dest: ImageDestination,
    private readonly options: CopyOptions,
  ) {
    this.emit = options.onEvent ?? (() => {});
    this.signal = options.signal ? AbortSignal.any([options.signal, this.controller.signal]) : this.controller.signal;
    // Every request and stream of the copy listens to this one signal; dozens at once is normal, not a leak.
    setMaxListeners(0, this.signal);
    if (options.format && options.format !== 'oci' && options.format !== 'v2s2') {
      throw new WharfError('USAGE', `unknown manifest format "${options.format}"`, { hint: 'use oci or v2s2' });
    }
  }

  async run(): Promise<CopyResult> {
    this.emit({ type: 'copy-start', source: this.source.reference.toString(), destination: this.dest.reference.toString() });
    const top = await this.source.getManifest(undefined, this.signal);
    const parsed = parseManifest(top.bytes, top.mediaType || undefined, `manifest of ${this.source.reference}`);
    this.sourceDigest = parsed.kind === 'index' && !(this.options.all || this.options.platforms?.length)
      ? chooseInstance(parsed.manifest, this.options.platform ?? hostPlatform()).digest
      : parsed.digest;
    if (this.options.preserveDigests && (this.options.format || this.options.compression)) {
      throw new WharfError('USAGE', '--preserve-digests cannot be combined with --format or --dest-compress-format', {
        hint: 'a conversion always changes the digest',
      });
    }
    const present = await this.alreadyPresent(parsed);
    if (present) return present;
    let written: WrittenManifest;
    if (parsed.kind === 'index' && (this.options.all || this.options.platforms?.length)) {
      written = await this.copyIndex(parsed);
    } else if (parsed.kind === 'index') {
      const want = this.options.platform ?? hostPlatform();
      const instance = chooseInstance(parsed.manifest, want);
      const child = await this.source.getManifest(instance.digest, this.signal);
      written = await this.copySingle(this.parseChild(child.bytes, instance), false);
    } else {
      if (this.options.all === false && this.options.platforms?.length) {
        throw new WharfError('USAGE', '--platform selects from an index, but the source is a single image');
      }
      written = await this.copySingle(parsed, false);
    }
    return {
      digest: written.digest,
      mediaType: written.mediaType,
      bytesWritten: this.bytesWritten,
      blobsCopied: this.blobsCopied,
      blobsSkipped: this.blobsSkipped,
    };
  }

  /**
   * A copy that would write, unchanged, the manifest the destination already names has nothing to do: a
   * registry only accepts a manifest whose blobs it holds. One HEAD instead of one per blob (as skopeo does).
   */
  private async alreadyPresent(parsed: ParsedManifest): Promise<CopyResult | undefined> {
    if (!this.dest.existingManifestDigest || this.options.format || this.options.compression || this.options.platforms?.length) return undefined;
    const existing = await this.dest.existingManifestDigest(this.signal).catch(() => undefined);
    if (existing === undefined || existing !== this.sourceDigest) return undefined;
    this.options.logger?.debug?.(`${this.dest.reference} already holds ${existing}; nothing to copy`);
    return { digest: existing, mediaType: parsed.mediaType, bytesWritten: 0, blobsCopied: 0, blobsSkipped: 0 };
  }

  private parseChild(bytes: Buffer, desc: Descriptor): ParsedManifest {
    const actual = digestOf(bytes, desc.digest.slice(0, desc.digest.indexOf(':')));
    if (actual !== desc.digest) {
      throw new WharfError('DIGEST_MISMATCH', `manifest ${desc.digest} of ${this.source.reference} has digest ${actual}`, {
        hint: 'the source is corrupt; nothing was written to the destination',
      });
    }
    return parseManifest(bytes, desc.mediaType, `manifest ${desc.digest} of ${this.source.reference}`);
  }

  private async copyIndex(parsed: Extract<ParsedManifest, { kind: 'index' }>): Promise<WrittenManifest> {
    const caps = this.dest.capabilities;
    if (!caps.acceptsIndex) {
      throw new WharfError('CONVERSION_UNSUPPORTED', `${this.dest.reference} can hold only one image, and --all or --platform asks for an index`, {
        hint: 'copy a single platform with --platform os/arch, or use an oci:, oci-archive: or dir: destination',
      });
    }
    const index = parsed.manifest;
    let chosen = index.manifests;
    if (!this.options.all) {
      const wanted = this.options.platforms ?? [];
      for (const p of wanted) {
        if (!index.manifests.some((d) => platformMatches(p, d.platform))) {
          throw new WharfError('PLATFORM_NOT_FOUND', `no image for ${formatPlatform(p)} in the index`, {
            hint: `it has: ${index.manifests.map((d) => formatPlatform(d.platform)).join(', ')}`,
          });
        }
      }
      chosen = index.manifests.filter((d) => wanted.some((p) => platformMatches(p, d.platform)));
    }
    const format = this.options.format ?? manifestFormatOf(parsed.mediaType);
    let targetIndexType = indexType(format);
    if (!caps.manifestTypes.includes(targetIndexType)) {
      if (this.options.format) throw this.unsupportedFormat(targetIndexType);
      targetIndexType = caps.manifestTypes.includes(MediaType.OciIndex) ? MediaType.OciIndex : MediaType.DockerManifestList;
    }
    const outFormat = manifestFormatOf(targetIndexType);
    const children: Descriptor[] = [];
    // One image after another; each image's blobs go concurrently, which is where the time is.
    for (const desc of chosen) {
      if (!(desc.mediaType === MediaType.OciManifest || desc.mediaType === MediaType.DockerManifest)) {
        // Nested indexes and artifacts are copied as raw manifests with their blobs only when formats agree.
        throw new WharfError('UNSUPPORTED', `index entry ${desc.digest} has media type ${desc.mediaType}, which copy --all does not handle yet`);
      }
      const child = await this.source.getManifest(desc.digest, this.signal);
      const written = await this.copySingle(this.parseChild(child.bytes, desc), true, outFormat);
      children.push({ ...desc, mediaType: written.mediaType, digest: written.digest, size: written.size });
    }
    const unchanged =
      targetIndexType === parsed.mediaType &&
      children.length === index.manifests.length &&
      children.every((c, i) => c.digest === index.manifests[i]!.digest && c.mediaType === index.manifests[i]!.mediaType);
    const bytes = unchanged ? parsed.bytes : serializeIndex(outFormat, children, index as ImageIndex);
    return this.putManifest(bytes, targetIndexType, undefined);
  }

  private unsupportedFormat(mediaType: string): WharfError {
    return new WharfError('CONVERSION_UNSUPPORTED', `${this.dest.reference} cannot store ${mediaType} manifests`, {
      hint: `it stores: ${this.dest.capabilities.manifestTypes.join(', ')}`,
    });
  }

  /** Copy one image: its config and layers concurrently, then its manifest. */
  private async copySingle(parsed: ParsedManifest, asInstance: boolean, forcedFormat?: ManifestFormat): Promise<WrittenManifest> {
    if (parsed.kind === 'index') {
      throw new WharfError('UNSUPPORTED', 'an index inside an index is not supported by copy yet');
    }
    const caps = this.dest.capabilities;
    if (parsed.kind === 'schema1') {
      if (!caps.manifestTypes.includes(parsed.mediaType) || (this.options.format && !forcedFormat)) {
        throw new WharfError('CONVERSION_UNSUPPORTED', 'Docker schema 1 images are read-only in wharf and cannot be converted', {
          hint: 'inspect works on them; copy them to a dir: destination to keep them as they are',
        });
      }
      const layers = [...new Map(parsed.manifest.fsLayers.map((l) => [l.blobSum, l])).keys()];
      await runPool(layers, this.concurrency(), async (digest) => {
        await this.copyBlob({ mediaType: MediaType.DockerLayerGzip, digest, size: -1 }, 'layer');
      });
      return this.putManifest(parsed.bytes, parsed.mediaType, asInstance ? parsed.digest : undefined);
    }

    const manifest = parsed.manifest;
    let format: ManifestFormat = forcedFormat ?? this.options.format ?? manifestFormatOf(parsed.mediaType);
    let targetType = imageManifestType(format);
    if (!caps.manifestTypes.includes(targetType)) {
      if (this.options.format && !forcedFormat) throw this.unsupportedFormat(targetType);
      targetType = caps.manifestTypes.find((t) => t === MediaType.OciManifest || t === MediaType.DockerManifest) ?? targetType;
      format = manifestFormatOf(targetType);
    }

    const configBytes = await readSmallBlob(this.source, manifest.config, this.signal);
    const diffIds = this.diffIdsOf(configBytes, manifest);
    const policy = this.options.compression ? 'force' : caps.layerCompression;

    const newLayers: Descriptor[] = new Array(manifest.layers.length);
    const jobs: (() => Promise<void>)[] = [
      async () => {
        await this.putConfig(manifest.config, configBytes);
      },
      ...manifest.layers.map((layer, i) => async () => {
        newLayers[i] = await this.copyLayer(layer, policy, format, diffIds?.[i]);
      }),
    ];
    await runPool(jobs, this.concurrency(), async (job) => {
      try {
        await job();
      } catch (err) {
        this.controller.abort(err);
        throw err;
      }
    });

    const config: Descriptor = { ...manifest.config, mediaType: configMediaType(format, manifest.config.mediaType) };
    const unchanged =
      targetType === parsed.mediaType &&
      config.mediaType === manifest.config.mediaType &&
      newLayers.every((l, i) => l.digest === manifest.layers[i]!.digest && l.mediaType === manifest.layers[i]!.mediaType);
    const bytes = unchanged ? parsed.bytes : serializeImageManifest(format, config, newLayers, manifest as ImageManifest);
    return this.putManifest(bytes, targetType, asInstance ? digestOf(bytes) : undefined);
  }

  private concurrency(): number {
    return this.dest.capabilities.concurrentPutBlob ? Math.max(1, this.options.concurrency ?? DEFAULT_CONCURRENCY) : 1;
  }

  private diffIdsOf(configBytes: Buffer, manifest: ImageManifest): Digest[] | undefined {
    if (manifest.config.mediaType !== MediaType.OciConfig && manifest.config.mediaType !== MediaType.DockerConfig) return undefined;
    const diffIds = parseConfig(configBytes, `config ${manifest.config.digest}`).rootfs?.diff_ids;
    return Array.isArray(diffIds) && diffIds.length === manifest.layers.length ? diffIds : undefined;
  }

  private putConfig(desc: Descriptor, bytes: Buffer): Promise<Descriptor> {
    return this.once(desc.digest, async () => {
      if (await this.dest.tryReuseBlob(desc, this.signal, this.source)) return this.skipped(desc, desc, 'config');
      this.emit({ type: 'blob-start', digest: desc.digest, size: desc.size, kind: 'config' });
      const stored = await this.dest.putBlob(Readable.from([bytes]), { digest: desc.digest, size: desc.size, mediaType: desc.mediaType }, this.signal);
      this.emit({ type: 'blob-progress', digest: desc.digest, bytes: bytes.length, size: desc.size });
      return this.done(desc, stored);
    });
  }

  private copyBlob(desc: Descriptor, kind: 'config' | 'layer'): Promise<Descriptor> {
    return this.once(desc.digest, async () => {
      if (await this.dest.tryReuseBlob(desc, this.signal, this.source)) return this.skipped(desc);
      const { stream, size } = await this.source.getBlob(desc, this.signal);
      const expectedSize = desc.size >= 0 ? desc.size : size;
      this.emit({ type: 'blob-start', digest: desc.digest, size: expectedSize, kind });
      const stored = await this.dest.putBlob(
        chain(stream, [this.progress(desc.digest, expectedSize)]),
        { digest: desc.digest, size: expectedSize, mediaType: desc.mediaType },
        this.signal,
      );
      return this.done(desc, stored);
    });
  }

  /**
   * Copy one layer. Its real compression is sniffed from its first bytes (media types can lie); it is kept
   * byte-for-byte when that is what the destination wants, and otherwise decompressed and/or recompressed
   * in the same streaming pass that verifies the source digest.
   */
  private copyLayer(
    desc: Descriptor,
    policy: 'preserve' | 'compress' | 'decompress' | 'force',
    format: ManifestFormat,
    diffId: Digest | undefined,
  ): Promise<Descriptor> {
    return this.once(desc.digest, async () => {
      const declared = layerCompression(desc.mediaType);
      if (declared === undefined) {
        // Not a layer we know (an artifact blob): copy it as it is.
        return this.copyAsIs(desc, desc);
      }
      const want = this.options.compression;
      // When the declared compression already is what we want, a blob the destination has can be reused
      // without opening the source.
      const target0 = targetCompression(policy, declared, want);
      if (target0 === declared && (await this.dest.tryReuseBlob(desc, this.signal, this.source))) {
        return this.skipped(desc, this.relabel(desc, declared, format));
      }
      const opened = await this.source.getBlob(desc, this.signal);
      const sniffed = await sniffCompression(opened.stream);
      const actual = sniffed.compression;
      const target = targetCompression(policy, actual, want);
      const expectedSize = desc.size >= 0 ? desc.size : opened.size;
      this.emit({ type: 'blob-start', digest: desc.digest, size: expectedSize, kind: 'layer' });
      if (target === actual) {
        const stored = await this.dest.putBlob(
          chain(sniffed.stream, [this.progress(desc.digest, expectedSize)]),
          { digest: desc.digest, size: expectedSize, mediaType: desc.mediaType },
          this.signal,
        );
        return this.done(desc, { ...stored, mediaType: this.mediaTypeFor(format, actual, desc) });
      }
      const mediaType = this.mediaTypeFor(format, target, desc);
      const verify = new DigestingStream({ digest: desc.digest, size: expectedSize, where: `layer ${desc.digest} from ${this.source.reference}` });
      const stages: Duplex[] = [this.progress(desc.digest, expectedSize), verify];
      const dec = decompressor(actual);
      if (dec) stages.push(dec, new HandOff());
      const comp = compressor(target, this.options.compressionLevel);
      if (comp) stages.push(comp);
      const transformed = chain(sniffed.stream, stages);
      // Decompressed output must be the layer's diff_id: the config says so, and the destination verifies it.
      const expect = target === 'none' && diffId ? { digest: diffId, mediaType } : { mediaType };
      let stored: Descriptor;
      try {
        stored = await this.transforms.run(() => this.dest.putBlob(transformed, expect, this.signal));
      } catch (err) {
        throw dec && isDecompressionError(err) ? await this.explainBadCompression(desc, actual, err) : err;
      }
      return this.done(desc, { ...stored, mediaType });
    });
  }

  /**
   * A layer failed to decompress. A corrupt blob usually does so before its last byte is hashed, so whether
   * the blob is damaged (a digest error, the common case) or well-formed but not valid compressed data is
   * found out by hashing the whole blob once more; this costs a second read only on the failure path.
   */
  private async explainBadCompression(desc: Descriptor, compression: Compression, err: unknown): Promise<WharfError> {
    const where = `layer ${desc.digest} from ${this.source.reference}`;
    const integrity = await blobIntegrityError(this.source, desc, where, this.signal);
    if (integrity) return integrity;
    const detail = err instanceof Error ? (rootCause(err).message ?? err.message) : String(err);
    return new WharfError('LAYER_INVALID', `${where} matches its digest but is not valid ${compression} data: ${detail}`, {
      hint: 'the image was built with a broken compressor; it cannot be converted, only copied as it is',
      cause: err,
    });
  }

  private mediaTypeFor(format: ManifestFormat, compression: Compression, desc: Descriptor): string {
    const foreign = desc.mediaType.includes('nondistributable') || desc.mediaType === MediaType.DockerLayerForeignGzip;
    const mt = layerMediaType(format, compression, foreign);
    if (mt) return mt;
    if (format === 'v2s2' && compression === 'none') return MediaType.DockerLayerGzip; // as docker-archive labels plain tars
    throw new WharfError('CONVERSION_UNSUPPORTED', `Docker schema 2 manifests cannot describe ${compression} layers`, {
      hint: 'use --format oci, or --dest-compress-format gzip',
    });
  }

  private relabel(desc: Descriptor, compression: Compression, format: ManifestFormat): Descriptor {
    return { ...desc, mediaType: this.mediaTypeFor(format, compression, desc) };
  }

  private async copyAsIs(desc: Descriptor, label: Descriptor): Promise<Descriptor> {
    if (await this.dest.tryReuseBlob(desc, this.signal, this.source)) return this.skipped(label);
    const { stream, size } = await this.source.getBlob(desc, this.signal);
    const expectedSize = desc.size >= 0 ? desc.size : size;
    this.emit({ type: 'blob-start', digest: desc.digest, size: expectedSize, kind: 'layer' });
    const stored = await this.dest.putBlob(chain(stream, [this.progress(desc.digest, expectedSize)]), { digest: desc.digest, size: expectedSize, mediaType: desc.mediaType }, this.signal);
    return this.done(desc, { ...stored, mediaType: label.mediaType });
  }

  private once(digest: Digest, work: () => Promise<Descriptor>): Promise<Descriptor> {
    let p = this.blobs.get(digest);
    if (!p) {
      p = work();
      this.blobs.set(digest, p);
    }
    return p;
  }

  private progress(digest: Digest, size: number): ProgressStream {
    return new ProgressStream((bytes) => this.emit({ type: 'blob-progress', digest, bytes, size }));
  }

  private skipped(desc: Descriptor, label: Descriptor = desc, kind: 'config' | 'layer' = 'layer'): Descriptor {
    this.blobsSkipped++;
    this.emit({ type: 'blob-skipped', digest: desc.digest, size: desc.size, kind });
    return { ...label, annotations: desc.annotations } as Descriptor;
  }

  private done(src: Descriptor, stored: Descriptor): Descriptor {
    this.blobsCopied++;
    this.bytesWritten += stored.size;
    this.emit({ type: 'blob-done', digest: src.digest, written: stored.digest, size: stored.size });
    const out: Descriptor = { ...src, mediaType: stored.mediaType, digest: stored.digest, size: stored.size };
    return out;
  }

  private async putManifest(bytes: Buffer, mediaType: string, instance: Digest | undefined): Promise<WrittenManifest> {
    const digest = digestOf(bytes);
    await this.dest.putManifest(bytes, mediaType, instance);
    this.emit({ type: 'manifest-written', digest, mediaType, instance: instance !== undefined });
    return { digest, size: bytes.length, mediaType };
  }
}

function targetCompression(
  policy: 'preserve' | 'compress' | 'decompress' | 'force',
  actual: Compression,
  wanted: Compression | undefined,
): Compression {
  switch (policy) {
    case 'force':
      return wanted!;
    case 'decompress':
      return 'none';
    case 'compress':
      return actual === 'none' ? 'gzip' : actual;
    case 'preserve':
      return actual;
  }
}

/** zlib's own errors (Z_DATA_ERROR: "incorrect data check", …), possibly wrapped by a destination. */
function isDecompressionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) return true;
  }
  return false;
}

function rootCause(err: Error): Error {
  let e: Error = err;
  for (let depth = 0; e.cause instanceof Error && depth < 5; depth++) e = e.cause;
  return e;
}

/** Pipe a source through stages; an error in any of them destroys the whole chain. */
function chain(source: Readable, stages: Duplex[]): Readable {
  let current: Readable = source;
  const all: (Readable | Duplex)[] = [source, ...stages];
  for (const stage of stages) {
    current = current.pipe(stage);
  }
  for (const s of all) {
    s.on('error', (err) => {
      for (const other of all) if (other !== s) other.destroy(err);
    });
  }
  return current;
}
