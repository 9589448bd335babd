import { createReadStream, promises as fsp } from 'node:fs';
import { digestOf, type Digest } from '../../digest/index.js';
import { DigestMismatchError, NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import type { Descriptor } from '../../oci/types.js';
import { BLOB_READ_CHUNK } from '../../util/fs.js';
import type { BlobStream, ImageReference, ImageSource, ManifestBlob } from '../types.js';
import { blobPath, readIndex } from '../../oci/layout.js';
import { REF_NAME_ANNOTATION } from './reference-name.js';

export interface LayoutSelector {
  name?: string;
  sourceIndex?: number;
}

/** Reads an image from an OCI image layout directory. Blobs are streamed straight from blobs/. */
export class OciLayoutSource implements ImageSource {
  private constructor(
    readonly reference: ImageReference,
    private readonly root: string,
    private readonly top: Descriptor,
  ) {}

  static async open(reference: ImageReference, root: string, selector: LayoutSelector): Promise<OciLayoutSource> {
    const index = (await readIndex(root, true))!;
    return new OciLayoutSource(reference, root, selectDescriptor(index.manifests, selector, root));
  }

  /** The descriptor index.json holds for the selected image. */
  descriptor(): Descriptor {
    return this.top;
  }

  async getManifest(instance?: Digest): Promise<ManifestBlob> {
    const desc = instance ? { digest: instance, size: -1, mediaType: '' } : this.top;
    const bytes = await this.readSmallBlob(desc.digest, desc.size, 'manifest');
    return { bytes, mediaType: desc.mediaType };
  }

  async getBlob(descriptor: Descriptor): Promise<BlobStream> {
    const path = blobPath(this.root, descriptor.digest);
    let size: number;
    try {
      size = (await fsp.stat(path)).size;
    } catch (err) {
      throw missingOr(err, descriptor.digest, this.root);
    }
    return { stream: createReadStream(path, { highWaterMark: BLOB_READ_CHUNK }), size };
  }

  repoTags(): string[] {
    return [];
  }

  async close(): Promise<void> {}

  private async readSmallBlob(digest: Digest, size: number, what: string): Promise<Buffer> {
    const path = blobPath(this.root, digest);
    let bytes: Buffer;
    try {
      const st = await fsp.stat(path);
      if (st.size > MAX_MANIFEST_BYTES) {
        throw new WharfError('TOO_LARGE', `${what} ${digest} in ${this.root} is ${st.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
      }
      bytes = await fsp.readFile(path);
    } catch (err) {
      throw missingOr(err, digest, this.root, what);
    }
    const actual = digestOf(bytes, digest.slice(0, digest.indexOf(':')));
    if (actual !== digest) throw new DigestMismatchError(digest, actual, `${what} in ${this.root}`);
    if (size >= 0 && bytes.length !== size) {
      throw new WharfError('SIZE_MISMATCH', `${what} ${digest} in ${this.root} is ${bytes.length} bytes, index says ${size}`);
    }
    return bytes;
  }
}

function missingOr(err: unknown, digest: Digest, root: string, what = 'blob'): Error {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new NotFoundError('BLOB_UNKNOWN', `${what} ${digest} is missing from ${root}`, {
      hint: 'the layout is incomplete; copy the image into it again',
    });
  }
  return asWharfError(err, 'IO_ERROR', `reading ${what} ${digest} from ${root}`);
}

/** Pick the image index.json names: by ref.name, by position, or the only one. */
export function selectDescriptor(manifests: Descriptor[], selector: LayoutSelector, where: string): Descriptor {
  if (selector.sourceIndex !== undefined) {
    const d = manifests[selector.sourceIndex];
    if (!d) {
      throw new NotFoundError('IMAGE_NOT_FOUND', `${where} has ${manifests.length} manifests, no @${selector.sourceIndex}`, {
        hint: 'manifests are counted from @0',
      });
    }
    return d;
  }
  if (selector.name !== undefined) {
    const found = manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === selector.name);
    if (found.length === 0) {
      const names = manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
      throw new NotFoundError('IMAGE_NOT_FOUND', `no image named "${selector.name}" in ${where}`, {
        hint: names.length ? `it has: ${names.slice(0, 20).join(', ')}` : 'it has no named images; use @N to pick one',
      });
    }
    return found[found.length - 1]!;
  }
  if (manifests.length === 1) return manifests[0]!;
  throw new NotFoundError('IMAGE_NOT_FOUND', manifests.length === 0 ? `${where} holds no images` : `${where} holds ${manifests.length} images; say which`, {
    hint: manifests.length === 0 ? 'copy an image into it first' : 'add :NAME (its org.opencontainers.image.ref.name) or :@N to the reference',
  });
}
