import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RegistryStore } from '../storage/store.js';
import type { Caller, Gate } from './gate.js';
import type { BufferPool } from './send-file.js';
import type { Route } from './routes.js';

/** Limits on what one request may make the server hold or store. */
export interface ServerLimits {
  /** The largest manifest accepted on PUT (the spec's clients stay under 4 MiB). */
  maxManifestBytes: number;
  /** The largest blob an upload may grow to. */
  maxBlobBytes: number;
  /** Page size when a client lists tags or the catalog without `n`. */
  defaultPageSize: number;
  /** The largest `n` honoured. */
  maxPageSize: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxManifestBytes: 4 << 20,
  maxBlobBytes: 64 * 1024 ** 3,
  defaultPageSize: 1000,
  maxPageSize: 10_000,
};

/** What a handler gets: the request, its parsed route, the store, who is asking, and where to answer. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The path exactly as the request line has it (never normalised). */
  path: string;
  /** For the query only: its pathname is meaningless (see `path`). */
  url: URL;
  route: Route;
  store: RegistryStore;
  gate: Gate;
  caller: Caller;
  limits: ServerLimits;
  /** Buffers for sending blob bodies, shared by the app's requests. */
  sendBuffers: BufferPool;
  /** Aborted when the client goes away, so a handler stops streaming into the void. */
  signal: AbortSignal;
  /** Notes for the access log and metrics (e.g. `mounted`, bytes received). */
  note: { bytesIn?: number; event?: string };
}

/** Checks an action and throws the 401/403 the spec and the token flow expect when it is not allowed. */
export type Authorize = (ctx: RequestContext, repository: string, action: 'pull' | 'push' | 'delete') => void;
