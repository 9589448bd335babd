import { digestAlgorithm, digestOf, parseDigest, type Digest } from '../../digest/index.js';
import { RegistryApiError, apiError } from '../errors.js';
import type { UploadSession } from '../storage/uploads.js';
import { integerHeader } from './body.js';
import type { RequestContext } from './context.js';
import { sendEmpty } from './respond.js';
import { sendFileRange } from './send-file.js';

/** Blobs up to this size are sent from one read and kept in memory (larger ones go through the buffer pool). */
const SMALL_BLOB = 64 << 10;

export function digestParam(value: string | null | undefined): Digest {
  if (!value) throw new RegistryApiError(400, 'DIGEST_INVALID', 'a digest is required');
  try {
    return parseDigest(value);
  } catch (err) {
    throw new RegistryApiError(400, 'DIGEST_INVALID', (err as Error).message);
  }
}

/** GET and HEAD of a blob, with single-range requests answered 206 (resumable pulls). */
export async function getBlob(ctx: RequestContext, name: string, digestText: string): Promise<void> {
  const digest = digestParam(digestText);
  const small = await ctx.store.cachedSmallBlob(name, digest);
  if (small) {
    const body = answerHead(ctx, digest, small.length);
    if (body) ctx.res.end(small.subarray(body[0], body[1] + 1));
    return;
  }
  const blob = await ctx.store.openBlob(name, digest);
  if (!blob) throw apiError.blobUnknown(digest);
  const { handle, size } = blob;
  try {
    const body = answerHead(ctx, digest, size);
    if (!body) return;
    const [start, end] = body;
    const length = end - start + 1;
    if (size <= SMALL_BLOB) {
      // A config or a small layer: one read and one write, no stream and no 1 MiB buffer, and kept for next time.
      const buf = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(buf, 0, size, 0);
      // Blobs never shrink; if this one did, a cut connection tells the client better than a short body.
      if (bytesRead !== size) {
        ctx.res.destroy();
        return;
      }
      // Kept only when it is what its name says: a file damaged in one repository must not be served to another.
      if (digestOf(buf, digestAlgorithm(digest)) === digest) ctx.store.rememberSmallBlob(digest, buf);
      ctx.res.end(length === size ? buf : buf.subarray(start, end + 1));
      return;
    }
    await sendFileRange(handle, ctx.res, start, end, ctx.sendBuffers).catch(() => ctx.res.destroy());
  } finally {
    await handle.close();
  }
}

/**
 * Write the status and headers of a blob answer; the byte range the body must hold, or `undefined` when there
 * is no body to send (HEAD, an empty blob, an unsatisfiable range).
 */
function answerHead(ctx: RequestContext, digest: Digest, size: number): [number, number] | undefined {
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000',
  };
  const range = parseRange(ctx.req.headers.range, size);
  if (range === 'unsatisfiable') {
    sendEmpty(ctx.res, 416, { ...headers, 'Content-Range': `bytes */${size}` });
    return undefined;
  }
  const [start, end] = range ?? [0, size - 1];
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  headers['Content-Length'] = String(size === 0 ? 0 : end - start + 1);
  ctx.res.writeHead(range ? 206 : 200, headers);
  if (ctx.req.method === 'HEAD' || size === 0) {
    ctx.res.end();
    return undefined;
  }
  return [start, end];
}

/** `bytes=a-b`, `bytes=a-` or `bytes=-n`; several ranges are answered with the whole blob, as many servers do. */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

export async function deleteBlob(ctx: RequestContext, name: string, digestText: string): Promise<void> {
  await ctx.store.deleteBlob(name, digestParam(digestText));
  sendEmpty(ctx.res, 202);
}

function uploadLocation(name: string, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

function sessionHeaders(session: UploadSession): Record<string, string> {
  return {
    Location: uploadLocation(session.repository, session.id),
    Range: `0-${Math.max(0, session.size - 1)}`,
    'Docker-Upload-UUID': session.id,
  };
}

function blobCreated(ctx: RequestContext, name: string, digest: Digest): void {
  sendEmpty(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** Whether the request carries a body (a monolithic upload or a last chunk with the final PUT). */
function hasBody(ctx: RequestContext): boolean {
  const length = integerHeader(ctx.req, 'content-length');
  return length !== undefined ? length > 0 : ctx.req.headers['transfer-encoding'] !== undefined;
}

/**
 * POST /v2/<name>/blobs/uploads/: a cross-repository mount (`mount` + `from`), automatic mount discovery
 * (`mount` alone, only on a registry without access control, where any blob is anyone's), a monolithic upload
 * (`digest` + body), or a new session (202 with its Location).
 */
export async function startUpload(ctx: RequestContext, name: string, canPullFrom: (repo: string) => boolean): Promise<void> {
  const params = ctx.url.searchParams;
  const mount = params.get('mount');
  if (mount !== null) {
    const digest = digestParam(mount);
    const from = params.get('from');
    const mounted =
      from !== null
        ? from !== name && canPullFrom(from) && (await ctx.store.mountBlob(name, from, digest).catch(() => false))
        : !ctx.gate.enabled && (await ctx.store.mountFromAnywhere(name, digest).catch(() => false));
    if (mounted) {
      ctx.note.event = 'mounted';
      blobCreated(ctx, name, digest);
      return;
    }
  }
  const digestText = params.get('digest');
  const session = await ctx.store.uploads.create(name);
  if (digestText !== null) {
    const digest = digestParam(digestText);
    try {
      await receiveChunk(ctx, session, false);
      await ctx.store.finishUpload(session, digest);
    } catch (err) {
      await ctx.store.uploads.remove(session.id);
      throw err;
    }
    blobCreated(ctx, name, digest);
    return;
  }
  sendEmpty(ctx.res, 202, sessionHeaders(session));
}

/** Append the request body to the session, honouring Content-Range (which must start at the current size). */
async function receiveChunk(ctx: RequestContext, session: UploadSession, rangeAllowed: boolean): Promise<void> {
  const length = integerHeader(ctx.req, 'content-length');
  const options: { start?: number; length?: number; maxSize: number; signal: AbortSignal } = { maxSize: ctx.limits.maxBlobBytes, signal: ctx.signal };
  const rangeHeader = ctx.req.headers['content-range'];
  if (rangeAllowed && typeof rangeHeader === 'string') {
    const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})$/.exec(rangeHeader.trim());
    if (!m || Number(m[2]) < Number(m[1])) {
      throw new RegistryApiError(416, 'BLOB_UPLOAD_INVALID', `Content-Range "${rangeHeader.slice(0, 40)}" is not START-END`, { size: session.size });
    }
    options.start = Number(m[1]);
    options.length = Number(m[2]) - Number(m[1]) + 1;
    if (length !== undefined && length !== options.length) {
      throw apiError.sizeInvalid(`Content-Length ${length} does not match Content-Range ${rangeHeader.slice(0, 40)}`);
    }
  } else if (length !== undefined) {
    options.length = length;
  }
  const before = session.size;
  await ctx.store.uploads.append(session, ctx.req, options);
  ctx.note.bytesIn = (ctx.note.bytesIn ?? 0) + session.size - before;
}

export async function patchUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const session = await ctx.store.uploads.get(name, id);
  try {
    await receiveChunk(ctx, session, true);
  } catch (err) {
    if (err instanceof RegistryApiError && err.status === 416) {
      ctx.res.setHeader('Range', `0-${Math.max(0, session.size - 1)}`);
      ctx.res.setHeader('Location', uploadLocation(name, id));
    }
    throw err;
  }
  sendEmpty(ctx.res, 202, sessionHeaders(session));
}

/** PUT ?digest=…: the last chunk (if any) and the end of the upload: verified, then visible at once. */
export async function finishUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const session = await ctx.store.uploads.get(name, id);
  const digest = digestParam(ctx.url.searchParams.get('digest'));
  if (hasBody(ctx)) await receiveChunk(ctx, session, true);
  await ctx.store.finishUpload(session, digest);
  blobCreated(ctx, name, digest);
}

export async function uploadStatus(ctx: RequestContext, name: string, id: string): Promise<void> {
  const session = await ctx.store.uploads.get(name, id);
  sendEmpty(ctx.res, 204, sessionHeaders(session));
}

export async function cancelUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const session = await ctx.store.uploads.get(name, id);
  await ctx.store.uploads.remove(session.id);
  sendEmpty(ctx.res, 204);
}
