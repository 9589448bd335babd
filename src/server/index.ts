/** `wharf serve` as a library: start an OCI registry over a storage folder, or collect its garbage. */
export { parseServerConfig, parseDuration, parseListen, DEFAULT_GC, type ServerConfig } from './config.js';
export { startRegistryServer, type RegistryServerOptions, type RunningRegistryServer } from './serve.js';
export { createAuthGate, type AuthGate, type AuthGateOptions } from './http/auth-gate.js';
export type { AccessLogEntry } from './http/app.js';
export { openGate, type Gate } from './http/gate.js';
export { RegistryStore, META_DIR } from './storage/store.js';
export { collectGarbage, type GcOptions, type GcReport } from './storage/gc.js';
export { RegistryMetrics } from './metrics.js';
export { RegistryApiError } from './errors.js';
