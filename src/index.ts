/**
 * wharf: a daemonless container-image toolkit. The library entry point.
 *
 *   import { parseReference, inspect, copy } from 'wharf';
 *   const result = await copy('oci:./layout:latest', 'docker-archive:./image.tar:app:latest');
 */
import { readFileSync } from 'node:fs';
import { copyImage } from './copy/copy.js';
import type { CopyOptions, CopyResult } from './copy/types.js';
import { imageHistory, type HistoryOptions } from './history/history.js';
import type { ImageHistoryEntry } from './history/types.js';
import { inspectImage, type InspectOptions } from './inspect/inspect.js';
import type { InspectResult } from './inspect/types.js';
import { defaultTransports } from './transports/index.js';
import type { ImageReference } from './transports/types.js';

/** Set by the bin's bundler (scripts/bundle.mjs), whose chunks sit at other depths than this module. */
declare const __WHARF_VERSION__: string | undefined;

/** The package version, read from package.json (two folders up from dist/src) so there is one place to change it. */
export const VERSION: string =
  typeof __WHARF_VERSION__ === 'string'
    ? __WHARF_VERSION__
    : (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Parse a `transport:location` reference, e.g. `oci:./layout:latest` or `docker-archive:img.tar:app:v1`. */
export function parseReference(reference: string): ImageReference {
  return defaultTransports().parse(reference);
}

function toReference(ref: ImageReference | string): ImageReference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/** Describe an image the way `skopeo inspect` does, without fetching its layers. */
export function inspect(ref: ImageReference | string, options: InspectOptions = {}): Promise<InspectResult> {
  return inspectImage(toReference(ref), options);
}

/** Copy an image between any two transports, streaming and verifying every blob. */
export function copy(src: ImageReference | string, dest: ImageReference | string, options: CopyOptions = {}): Promise<CopyResult> {
  return copyImage(toReference(src), toReference(dest), options);
}

/**
 * The steps that built an image, newest first, as `docker history` lists them, from its manifest and config
 * only (sizes are the stored, compressed layer sizes; see ImageHistoryEntry).
 */
export function history(ref: ImageReference | string, options: HistoryOptions = {}): Promise<ImageHistoryEntry[]> {
  return imageHistory(toReference(ref), options);
}

export { manifestDigest } from './oci/manifest-digest.js';
export { WharfError, DigestMismatchError, NotFoundError, type ErrorCode } from './errors.js';
export { parseDigest, digestOf, type Digest } from './digest/index.js';
export { parseDockerReference, DockerReference } from './reference/index.js';
export { MediaType, type Compression, type ManifestFormat } from './oci/media-types.js';
export { parsePlatform, formatPlatform, hostPlatform } from './oci/platform.js';
export { parseManifest, parseConfig } from './oci/manifest.js';
export type * from './oci/types.js';
export type { CopyOptions, CopyResult, CopyEvent } from './copy/types.js';
export type { InspectOptions } from './inspect/inspect.js';
export type { InspectResult, InspectOutput, InspectLayer } from './inspect/types.js';
export type { HistoryOptions } from './history/history.js';
export type { ImageHistoryEntry, HistoryLayer } from './history/types.js';
export { defaultTransports, TransportRegistry } from './transports/index.js';
export type { ImageReference, ImageSource, ImageDestination, Transport, Context, DestinationCapabilities } from './transports/types.js';
import type { SyncOptions, SyncResult } from './sync/index.js';
export type { SyncOptions, SyncResult, SyncItem, SyncEvent } from './sync/index.js';

/**
 * Copy many images at once, as `skopeo sync` does (see SyncOptions). Loaded on first use: the YAML parser it
 * brings is not worth loading for every inspect or copy.
 */
export async function sync(options: SyncOptions): Promise<SyncResult> {
  return (await import('./sync/index.js')).sync(options);
}
export type { RegistryAccess } from './transports/docker/access.js';
export { proxyFromEnv, ProxyConfig, ProxyError, type Proxy, type ProxyEnv } from './util/proxy.js';
export { extractImage, type ExtractOptions, type ExtractResult, type ExtractedPath } from './filesystem/extract.js';
export { diffImages, type DiffSide, type DiffOptions, type DiffResult, type DiffEntry, type DiffReason } from './filesystem/diff.js';
export { analyzeLayers, type LayersOptions, type LayersAnalysis, type LayerReport, type Efficiency } from './filesystem/layers.js';
export { repackImage, type RepackOptions, type RepackResult } from './filesystem/repack.js';
export { unpackImage, type UnpackImageOptions, type UnpackResult } from './filesystem/unpack.js';
export type { ScanOptions, ScanReport, Severity, VulnerabilityFinding, VulnerabilityMatcher } from './scan/scan.js';
export type { ImportOptions, ImportResult, DbStatus } from './scan/db/index.js';
/** Scan an image (see ScanOptions; `matcher` for vulnerabilities). Loaded on first use, as sync is. */
export async function scanImage(ref: ImageReference, options?: import('./scan/scan.js').ScanOptions): Promise<import('./scan/scan.js').ScanReport> {
  return (await import('./scan/scan.js')).scanImage(ref, options);
}
/** Import OSV records (a zip as osv.dev publishes it, a folder, a file or a URL) into a local database. */
export async function importOsv(source: string, options: import('./scan/db/index.js').ImportOptions): Promise<import('./scan/db/index.js').ImportResult> {
  return (await import('./scan/db/index.js')).importOsv(source, options);
}
/** A matcher for scanImage over the local OSV database in `dbDir`. */
export async function osvMatcher(dbDir: string, options: { ignoreUnfixed?: boolean; signal?: AbortSignal } = {}): Promise<import('./scan/scan.js').VulnerabilityMatcher> {
  const [{ OsvMatcher }, { lookup }] = await Promise.all([import('./scan/match.js'), import('./scan/db/index.js')]);
  return new OsvMatcher((ecosystem, name) => lookup(dbDir, ecosystem, name, options.signal ? { signal: options.signal } : {}), options.ignoreUnfixed ? { ignoreUnfixed: true } : {});
}
