import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../errors.js';
import { parseJsonObject, validateDescriptor } from './manifest.js';
import { MediaType } from './media-types.js';
import type { Descriptor, ImageIndex } from './types.js';

/** index.json of a layout can list many images, but not unboundedly many bytes. */
export const MAX_INDEX_JSON_BYTES = 32 << 20;
export const LAYOUT_VERSION = '1.0.0';
/** The annotation that names an image in a layout's index.json (a tag, when a layout holds one repository). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/**
 * The lock every wharf writer of a layout's index.json takes (copy into oci:, the registry server, its GC), so
 * that their read-modify-writes serialise across processes.
 */
export const INDEX_LOCK_NAME = 'index.json.lock';

export function blobPath(root: string, digest: Digest): string {
  parseDigest(digest); // refuses anything that could walk out of blobs/
  return join(root, 'blobs', digestAlgorithm(digest), digestHex(digest));
}

export function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
}

/** Read and validate index.json; `undefined` when the layout has none yet. */
export async function readIndex(root: string, mustExist: boolean): Promise<ImageIndex | undefined> {
  const path = join(root, 'index.json');
  let bytes: Buffer;
  try {
    const st = await fsp.stat(path);
    if (st.size > MAX_INDEX_JSON_BYTES) {
      throw new WharfError('TOO_LARGE', `${path} is ${st.size} bytes, more than the ${MAX_INDEX_JSON_BYTES}-byte limit`);
    }
    bytes = await fsp.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!mustExist) return undefined;
      throw new NotFoundError('IMAGE_NOT_FOUND', `${root} is not an OCI image layout: it has no index.json`, {
        hint: 'check the path; an OCI layout holds oci-layout, index.json and blobs/',
      });
    }
    throw asWharfError(err, 'IO_ERROR', `reading ${path}`);
  }
  const json = parseJsonObject(bytes, path, 'LAYOUT_INVALID');
  if (json.schemaVersion !== 2 || !Array.isArray(json.manifests)) {
    throw new WharfError('LAYOUT_INVALID', `${path} is not an image index (needs schemaVersion 2 and manifests)`);
  }
  try {
    json.manifests.forEach((m, i) => validateDescriptor(m, `${path}: manifests[${i}]`));
  } catch (err) {
    throw new WharfError('LAYOUT_INVALID', (err as Error).message, { cause: err });
  }
  return json as unknown as ImageIndex;
}

/** Check the oci-layout marker file; a directory without it is not a layout we may write into or read. */
export async function checkLayoutFile(root: string): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(join(root, 'oci-layout'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw asWharfError(err, 'IO_ERROR', `reading ${root}/oci-layout`);
  }
  const json = parseJsonObject(bytes.subarray(0, 4096), `${root}/oci-layout`, 'LAYOUT_INVALID');
  if (json.imageLayoutVersion !== LAYOUT_VERSION) {
    throw new WharfError('LAYOUT_INVALID', `${root}: unsupported imageLayoutVersion ${JSON.stringify(json.imageLayoutVersion)}`);
  }
  return true;
}

export type { Descriptor };
