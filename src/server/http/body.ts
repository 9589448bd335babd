import type { IncomingMessage } from 'node:http';
import { apiError } from '../errors.js';

/**
 * Read a small request body (a manifest, a token request) into memory, refusing it as soon as it passes
 * `limit` bytes, before it is all read: a client cannot make the server buffer more than the limit.
 */
export async function readCapped(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw apiError.tooLarge(what, limit);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        // Stop here; the error response closes the connection, so the rest is never read.
        req.pause();
        req.off('data', onData);
        reject(apiError.tooLarge(what, limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, total)));
    req.once('error', reject);
  });
}

/** A non-negative integer header, or undefined; anything else is a client error. */
export function integerHeader(req: IncomingMessage, name: string): number | undefined {
  const raw = req.headers[name];
  if (raw === undefined || Array.isArray(raw)) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw apiError.sizeInvalid(`${name} "${raw.slice(0, 30)}" is not a byte count`);
  return Number(raw.trim());
}
