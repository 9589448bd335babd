import { WharfError } from '../errors.js';
import type { LayerEntryWithBody } from './types.js';

/**
 * A small file's bytes, whole, in one buffer of its declared size (only for files a caller has decided to hold:
 * the size is known from the header, so a body that runs longer or shorter is LAYER_INVALID).
 */
export async function readEntryBody(body: NonNullable<LayerEntryWithBody['body']>, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (at + chunk.length > size) throw new WharfError('LAYER_INVALID', `a file's content is longer than its ${size} bytes`);
    chunk.copy(out, at);
    at += chunk.length;
  }
  if (at !== size) throw new WharfError('LAYER_INVALID', `a file's content ended after ${at} of ${size} bytes`);
  return out;
}
