import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream } from '../digest/index.js';
import { WharfError } from '../errors.js';
import type { Descriptor } from '../oci/types.js';
import type { ImageSource } from './types.js';

/**
 * Read a blob once more, only to hash it: the digest or size error when it does not match its descriptor,
 * else undefined. For failure paths: a corrupt layer usually breaks its decompressor (or the tar in it) before
 * its last byte is hashed, and whether the blob is damaged or well-formed but bad data is told apart here.
 */
export async function blobIntegrityError(source: ImageSource, desc: Descriptor, where: string, signal?: AbortSignal): Promise<WharfError | undefined> {
  try {
    const { stream } = await source.getBlob(desc, signal);
    const expect: { digest: Descriptor['digest']; size?: number; where: string } = { digest: desc.digest, where };
    if (desc.size >= 0) expect.size = desc.size;
    await pipeline(stream, new DigestingStream(expect), new Writable({ write: (_c, _e, cb) => cb() }), signal ? { signal } : {});
  } catch (err) {
    if (err instanceof WharfError && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH')) return err;
  }
  return undefined;
}
