import { pipeline } from 'node:stream/promises';
import { DigestingStream } from '../digest/index.js';
import { WharfError, asWharfError } from '../errors.js';
import { MAX_CONFIG_BYTES } from '../oci/manifest.js';
import type { Descriptor } from '../oci/types.js';
import type { ImageSource } from './types.js';

/**
 * Read a small blob (an image config) into memory, capped and verified against its descriptor. Layers are
 * never read this way: they stream.
 */
export async function readSmallBlob(source: ImageSource, desc: Descriptor, signal?: AbortSignal, maxBytes = MAX_CONFIG_BYTES): Promise<Buffer> {
  const where = `blob ${desc.digest} from ${source.reference}`;
  if (desc.size > maxBytes) {
    throw new WharfError('TOO_LARGE', `${where} is ${desc.size} bytes, over the ${maxBytes}-byte limit`);
  }
  const { stream } = await source.getBlob(desc, signal);
  // An unknown size is capped too: a hostile source cannot make us hold more than maxBytes.
  const check = new DigestingStream({ digest: desc.digest, size: desc.size >= 0 ? desc.size : maxBytes, where });
  const chunks: Buffer[] = [];
  try {
    await pipeline(
      stream,
      check,
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) chunks.push(c);
      },
      signal ? { signal } : {},
    );
  } catch (err) {
    throw asWharfError(err, 'IO_ERROR', `reading ${where}`);
  }
  return Buffer.concat(chunks);
}
