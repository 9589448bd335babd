import { digestOf, parseDigest, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';
import { MediaType, isIndexMediaType, isSchema1 } from './media-types.js';
import type {
  Descriptor,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Platform,
  Schema1Manifest,
} from './types.js';

/** The largest manifest we read into memory; the same cap as containers/image and distribution (4 MiB). */
export const MAX_MANIFEST_BYTES = 4 << 20;
/** The largest image config we read into memory. */
export const MAX_CONFIG_BYTES = 8 << 20;

export type ParsedManifest =
  | { kind: 'image'; mediaType: string; manifest: ImageManifest; bytes: Buffer; digest: Digest }
  | { kind: 'index'; mediaType: string; manifest: ImageIndex; bytes: Buffer; digest: Digest }
  | { kind: 'schema1'; mediaType: string; manifest: Schema1Manifest; bytes: Buffer; digest: Digest };

/**
 * Parse manifest bytes of any supported kind. `declaredMediaType` is what the transport said (Content-Type,
 * descriptor); when absent the type is guessed from the JSON the way containers/image does.
 */
export function parseManifest(bytes: Buffer, declaredMediaType?: string, where = 'manifest'): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new WharfError('TOO_LARGE', `${where} is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES}-byte limit`, {
      hint: 'a manifest this large is almost certainly not a manifest; check the source',
    });
  }
  const json = parseJsonObject(bytes, where, 'MANIFEST_INVALID');
  const inner = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  let mediaType = declaredMediaType && declaredMediaType !== 'application/json' ? declaredMediaType : undefined;
  mediaType ??= inner ?? guessMediaType(json);
  if (inner && declaredMediaType && inner !== declaredMediaType && !isSchema1(declaredMediaType)) {
    throw new WharfError('MANIFEST_INVALID', `${where}: declared as ${declaredMediaType} but its mediaType field says ${inner}`);
  }
  const digest = digestOf(bytes);
  if (isSchema1(mediaType)) {
    return { kind: 'schema1', mediaType, manifest: validateSchema1(json, where), bytes, digest };
  }
  if (isIndexMediaType(mediaType)) {
    return { kind: 'index', mediaType, manifest: validateIndex(json, where), bytes, digest };
  }
  if (mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest) {
    return { kind: 'image', mediaType, manifest: validateImageManifest(json, where), bytes, digest };
  }
  throw new WharfError('MANIFEST_UNSUPPORTED', `${where}: unsupported manifest media type "${clip(mediaType)}"`, {
    hint: 'wharf reads OCI manifests and indexes, Docker schema 2 manifests and lists, and Docker schema 1',
  });
}

/** What containers/image's GuessMIMEType does: look at the fields when no media type is declared. */
export function guessMediaType(json: Record<string, unknown>): string {
  if (json.schemaVersion === 1) return json.signatures ? MediaType.DockerSchema1Signed : MediaType.DockerSchema1;
  if (Array.isArray(json.manifests)) return MediaType.OciIndex;
  if (json.config && typeof json.config === 'object') {
    const cfg = json.config as { mediaType?: unknown };
    return cfg.mediaType === MediaType.DockerConfig ? MediaType.DockerManifest : MediaType.OciManifest;
  }
  throw new WharfError('MANIFEST_INVALID', 'manifest has no mediaType and does not look like any known manifest kind');
}

export function parseJsonObject(
  bytes: Buffer | string,
  where: string,
  code: 'MANIFEST_INVALID' | 'CONFIG_INVALID' | 'LAYOUT_INVALID' | 'ARCHIVE_INVALID',
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (err) {
    throw new WharfError(code, `${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new WharfError(code, `${where} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function validateDescriptor(value: unknown, where: string): Descriptor {
  if (!value || typeof value !== 'object') throw new WharfError('MANIFEST_INVALID', `${where} is not an object`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType.length === 0 || d.mediaType.length > 255) {
    throw new WharfError('MANIFEST_INVALID', `${where} has no valid mediaType`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new WharfError('MANIFEST_INVALID', `${where} has an invalid size`);
  }
  try {
    parseDigest(d.digest as string);
  } catch (err) {
    throw new WharfError('MANIFEST_INVALID', `${where}: ${(err as Error).message}`, { cause: err });
  }
  if (d.annotations !== undefined && !isStringMap(d.annotations)) {
    throw new WharfError('MANIFEST_INVALID', `${where} has annotations that are not a string map`);
  }
  if (d.platform !== undefined) validatePlatform(d.platform, `${where}.platform`);
  return d as unknown as Descriptor;
}

function validatePlatform(value: unknown, where: string): void {
  const p = value as Record<string, unknown>;
  if (!p || typeof p !== 'object' || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
    throw new WharfError('MANIFEST_INVALID', `${where} needs string os and architecture`);
  }
}

function validateImageManifest(json: Record<string, unknown>, where: string): ImageManifest {
  if (json.schemaVersion !== 2) throw new WharfError('MANIFEST_INVALID', `${where}: schemaVersion must be 2`);
  validateDescriptor(json.config, `${where}: config`);
  if (!Array.isArray(json.layers)) throw new WharfError('MANIFEST_INVALID', `${where}: layers is not an array`);
  json.layers.forEach((l, i) => validateDescriptor(l, `${where}: layers[${i}]`));
  if (json.subject !== undefined) validateDescriptor(json.subject, `${where}: subject`);
  if (json.annotations !== undefined && !isStringMap(json.annotations)) {
    throw new WharfError('MANIFEST_INVALID', `${where}: annotations are not a string map`);
  }
  return json as unknown as ImageManifest;
}

function validateIndex(json: Record<string, unknown>, where: string): ImageIndex {
  if (json.schemaVersion !== 2) throw new WharfError('MANIFEST_INVALID', `${where}: schemaVersion must be 2`);
  if (!Array.isArray(json.manifests)) throw new WharfError('MANIFEST_INVALID', `${where}: manifests is not an array`);
  json.manifests.forEach((m, i) => validateDescriptor(m, `${where}: manifests[${i}]`));
  return json as unknown as ImageIndex;
}

function validateSchema1(json: Record<string, unknown>, where: string): Schema1Manifest {
  if (!Array.isArray(json.fsLayers) || !Array.isArray(json.history) || json.fsLayers.length !== json.history.length) {
    throw new WharfError('MANIFEST_INVALID', `${where}: schema 1 manifest needs fsLayers and history of equal length`);
  }
  for (const [i, l] of json.fsLayers.entries()) {
    try {
      parseDigest((l as { blobSum: string })?.blobSum);
    } catch (err) {
      throw new WharfError('MANIFEST_INVALID', `${where}: fsLayers[${i}]: ${(err as Error).message}`);
    }
  }
  for (const [i, h] of json.history.entries()) {
    if (typeof (h as { v1Compatibility?: unknown })?.v1Compatibility !== 'string') {
      throw new WharfError('MANIFEST_INVALID', `${where}: history[${i}] has no v1Compatibility string`);
    }
  }
  return json as unknown as Schema1Manifest;
}

/** Parse and sanity-check an image config blob. */
export function parseConfig(bytes: Buffer, where = 'image config'): ImageConfig {
  if (bytes.length > MAX_CONFIG_BYTES) {
    throw new WharfError('TOO_LARGE', `${where} is ${bytes.length} bytes, more than the ${MAX_CONFIG_BYTES}-byte limit`);
  }
  const json = parseJsonObject(bytes, where, 'CONFIG_INVALID');
  const rootfs = json.rootfs as { diff_ids?: unknown } | undefined;
  if (rootfs !== undefined && (typeof rootfs !== 'object' || (rootfs.diff_ids !== undefined && !Array.isArray(rootfs.diff_ids)))) {
    throw new WharfError('CONFIG_INVALID', `${where}: rootfs.diff_ids is not an array`);
  }
  return json as unknown as ImageConfig;
}

/** Schema 1 carries its config in history[0].v1Compatibility; lift it to the shape of a schema 2 config. */
export function schema1Config(m: Schema1Manifest): ImageConfig {
  const top = parseJsonObject(m.history[0]?.v1Compatibility ?? '{}', 'schema 1 v1Compatibility', 'MANIFEST_INVALID');
  return {
    created: top.created as string | undefined,
    architecture: (top.architecture as string) ?? m.architecture ?? '',
    os: (top.os as string) ?? 'linux',
    config: (top.config as ImageConfig['config']) ?? {},
    docker_version: top.docker_version as string | undefined,
    rootfs: { type: 'layers', diff_ids: [] },
  };
}

/** Schema 1 layers, in schema 2 order (base first), without the empty-layer entries. */
export function schema1Layers(m: Schema1Manifest): Descriptor[] {
  const out: Descriptor[] = [];
  for (let i = m.fsLayers.length - 1; i >= 0; i--) {
    const v1 = safeJson(m.history[i]?.v1Compatibility);
    if (v1?.throwaway === true) continue;
    out.push({ mediaType: MediaType.DockerLayerGzip, digest: m.fsLayers[i]!.blobSum, size: -1 });
  }
  return out;
}

function safeJson(s: string | undefined): Record<string, unknown> | undefined {
  try {
    return s ? (JSON.parse(s) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isStringMap(v: unknown): boolean {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export type { Platform };
