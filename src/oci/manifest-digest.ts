import { digestOf, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';
import { MAX_MANIFEST_BYTES } from './manifest.js';

/**
 * The digest a registry gives a manifest: of its bytes, except for signed schema 1 manifests, whose digest is
 * of the payload without the JWS signatures (libtrust's formatLength/formatTail say how to rebuild it).
 */
export function manifestDigest(bytes: Buffer): Digest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new WharfError('TOO_LARGE', `manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES}-byte limit`);
  }
  let json: { schemaVersion?: unknown; signatures?: { protected?: string }[] };
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new WharfError('MANIFEST_INVALID', `manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (json?.schemaVersion === 1 && Array.isArray(json.signatures) && json.signatures.length > 0) {
    const protectedHeader = json.signatures[0]?.protected;
    if (typeof protectedHeader !== 'string') {
      throw new WharfError('MANIFEST_INVALID', 'signed schema 1 manifest has no protected header');
    }
    let header: { formatLength?: unknown; formatTail?: unknown };
    try {
      header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8'));
    } catch {
      throw new WharfError('MANIFEST_INVALID', 'signed schema 1 manifest has an unreadable protected header');
    }
    const { formatLength, formatTail } = header;
    if (typeof formatLength !== 'number' || formatLength < 0 || formatLength > bytes.length || typeof formatTail !== 'string') {
      throw new WharfError('MANIFEST_INVALID', 'signed schema 1 manifest has an invalid formatLength/formatTail');
    }
    return digestOf(Buffer.concat([bytes.subarray(0, formatLength), Buffer.from(formatTail, 'base64url')]));
  }
  return digestOf(bytes);
}
