/**
 * `wharf serve` in-process for the tests: a registry on a free loopback port over a temporary storage folder,
 * closed after the test. Its access log is collected, so tests can look at what it logged.
 *
 *   const srv = await startWharfRegistry(t);
 *   await copy(`oci:${layout.dir}:v1`, `docker://${srv.host}/team/app:v1`, { registry: { tlsVerify: false } });
 */
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { AccessLogEntry } from '../../src/server/http/app.js';
import { startRegistryServer, type RegistryServerOptions, type RunningRegistryServer } from '../../src/server/serve.js';
import { tempDir } from './peers.js';

export interface WharfRegistry extends RunningRegistryServer {
  /** `127.0.0.1:PORT`, the registry part of a reference. */
  host: string;
  storage: string;
  log: AccessLogEntry[];
}

export async function startWharfRegistry(t: TestContext, options: Partial<RegistryServerOptions> = {}): Promise<WharfRegistry> {
  const storage = options.storage ?? join(await tempDir(t, 'wharf-serve-'), 'storage');
  const log: AccessLogEntry[] = [];
  const server = await startRegistryServer({ port: 0, ...options, storage, log: (e) => log.push(e) });
  t.after(() => server.close(1000));
  return Object.assign(server, { host: `127.0.0.1:${server.port}`, storage, log });
}
