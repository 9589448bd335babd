import type { IncomingMessage, ServerResponse } from 'node:http';
import { WharfError } from '../../errors.js';
import { RegistryApiError } from '../errors.js';

/** Every /v2/ answer carries it; docker clients check for it before they trust a registry. */
export const API_VERSION_HEADER = ['Docker-Distribution-API-Version', 'registry/2.0'] as const;

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...headers });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': '0', ...headers });
  res.end();
}

/**
 * The spec's error body, `{"errors":[{code, message, detail}]}`, for any failure. Errors that are not the
 * registry's own (a disk failure) become a 500 whose message says nothing about the server's paths.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const api = toApiError(err);
  if (api.headers) headers = { ...headers, ...api.headers };
  // A refused body was not read to its end: close the connection rather than read the rest to reuse it.
  if (api.status === 413) headers = { ...headers, Connection: 'close' };
  const error: Record<string, unknown> = { code: api.specCode, message: api.message };
  if (api.detail !== undefined) error.detail = api.detail;
  if (req.method === 'HEAD') {
    res.writeHead(api.status, { 'Content-Type': 'application/json', ...headers });
    res.end();
    return;
  }
  sendJson(res, api.status, { errors: [error] }, headers);
}

export function toApiError(err: unknown): RegistryApiError {
  if (err instanceof RegistryApiError) return err;
  if (err instanceof WharfError && err.code === 'ABORTED') return new RegistryApiError(400, 'BLOB_UPLOAD_INVALID', 'the request was aborted');
  return new RegistryApiError(500, 'UNSUPPORTED', 'internal server error');
}
