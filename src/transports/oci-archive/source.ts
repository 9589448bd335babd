import { digestAlgorithm, digestOf, type Digest } from '../../digest/index.js';
import { DigestMismatchError, NotFoundError, WharfError } from '../../errors.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import type { Descriptor } from '../../oci/types.js';
import { selectDescriptor, type LayoutSelector } from '../oci-layout/source.js';
import type { BlobStream, Context, ImageReference, ImageSource, ManifestBlob } from '../types.js';
import { OciArchiveReader, readerOptions } from './archive.js';

/**
 * Reads an image from an OCI archive without extracting it: the image is chosen from index.json as the oci:
 * source chooses it (by ref.name, by @N, or the only one), manifests are read (capped) and verified against
 * their digests, and blobs are streamed from their byte range of the archive.
 */
export class OciArchiveSource implements ImageSource {
  private constructor(
    readonly reference: ImageReference,
    private readonly archive: OciArchiveReader,
    private readonly top: Descriptor,
  ) {}

  static async open(reference: ImageReference, path: string, selector: LayoutSelector, ctx: Context = {}): Promise<OciArchiveSource> {
    const archive = await OciArchiveReader.open(path, readerOptions(ctx, `oci-archive ${path}`));
    try {
      const top = selectDescriptor(archive.index.manifests, selector, `oci-archive ${path}`);
      return new OciArchiveSource(reference, archive, top);
    } catch (err) {
      await archive.close();
      throw err;
    }
  }

  /** The descriptor index.json holds for the selected image. */
  descriptor(): Descriptor {
    return this.top;
  }

  async getManifest(instance?: Digest): Promise<ManifestBlob> {
    const desc = instance ? { digest: instance, size: -1, mediaType: '' } : this.top;
    const what = instance ? `manifest ${instance}` : `manifest ${desc.digest}`;
    const entry = this.archive.findBlob(desc.digest);
    if (!entry) throw this.missing(desc.digest, 'manifest');
    const bytes = await this.archive.readFile(entry, MAX_MANIFEST_BYTES, what);
    const actual = digestOf(bytes, digestAlgorithm(desc.digest));
    if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, `manifest in ${this.archive.label}`);
    if (desc.size >= 0 && bytes.length !== desc.size) {
      throw new WharfError('SIZE_MISMATCH', `${this.archive.label}: ${what} is ${bytes.length} bytes, index says ${desc.size}`, {
        hint: 'the archive is inconsistent; re-create it',
      });
    }
    return { bytes, mediaType: desc.mediaType };
  }

  async getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    const entry = this.archive.findBlob(descriptor.digest);
    if (!entry) throw this.missing(descriptor.digest, 'blob');
    return { stream: this.archive.stream(entry, `blob ${descriptor.digest}`, signal), size: entry.size };
  }

  repoTags(): string[] {
    return [];
  }

  async close(): Promise<void> {
    await this.archive.close();
  }

  private missing(digest: Digest, what: string): NotFoundError {
    return new NotFoundError('BLOB_UNKNOWN', `${what} ${digest} is missing from ${this.archive.label}`, {
      hint: 'the archive is incomplete; copy the image into it again',
    });
  }
}
