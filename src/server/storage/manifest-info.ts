import { parseManifest } from '../../oci/manifest.js';
import { MediaType, isIndexMediaType } from '../../oci/media-types.js';
import type { Descriptor } from '../../oci/types.js';
import { apiError } from '../errors.js';

/** What the registry needs to know about a stored manifest, derived once from its bytes (they never change). */
export interface ManifestInfo {
  mediaType: string;
  size: number;
  /** Blobs it needs in the same repository: config and layers (foreign layers excluded). */
  blobs: Descriptor[];
  /** Manifests it needs in the same repository: an index's children. */
  children: Descriptor[];
  subject?: Descriptor;
  /** The manifest's own artifactType field. */
  artifactType?: string;
  /** Its config's media type: what the referrers API reports when there is no artifactType. */
  configMediaType?: string;
  annotations?: Record<string, string>;
}

/** Manifest types a client may push. Schema 1 is read by wharf's client but, as in distribution 2.8, not stored. */
const PUSHABLE = new Set<string>([MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList]);

/** Media types of layers that live elsewhere (`urls`), which a registry does not hold. */
function isForeignLayer(d: Descriptor): boolean {
  return (d.urls !== undefined && d.urls.length > 0) || d.mediaType.includes('nondistributable') || d.mediaType.includes('.foreign.');
}

/** The media type a PUT declares, without parameters; `undefined` when it declares none worth trusting. */
export function declaredType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  return bare && bare !== 'application/json' && bare !== 'application/octet-stream' ? bare : undefined;
}

/**
 * Validate pushed manifest bytes: valid JSON of a known type, consistent with the declared Content-Type.
 * Throws MANIFEST_INVALID (the spec's code) with what is wrong.
 */
export function manifestInfoFromPush(bytes: Buffer, contentType: string | undefined): ManifestInfo {
  let parsed;
  try {
    parsed = parseManifest(bytes, declaredType(contentType), 'manifest');
  } catch (err) {
    throw apiError.manifestInvalid((err as Error).message);
  }
  if (!PUSHABLE.has(parsed.mediaType)) {
    throw apiError.manifestInvalid(`media type ${parsed.mediaType} is not accepted: push an OCI or Docker schema 2 manifest`);
  }
  return infoOf(bytes, parsed.mediaType);
}

/** Info for bytes already stored (validated when they were pushed or written); `mediaType` from the index. */
export function manifestInfoFromStored(bytes: Buffer, mediaType: string | undefined): ManifestInfo {
  try {
    const parsed = parseManifest(bytes, mediaType, 'stored manifest');
    return infoOf(bytes, parsed.mediaType);
  } catch (err) {
    throw apiError.manifestInvalid((err as Error).message);
  }
}

function infoOf(bytes: Buffer, mediaType: string): ManifestInfo {
  const json = JSON.parse(bytes.toString('utf8')) as {
    config?: Descriptor;
    layers?: Descriptor[];
    manifests?: Descriptor[];
    subject?: Descriptor;
    artifactType?: string;
    annotations?: Record<string, string>;
  };
  const info: ManifestInfo = { mediaType, size: bytes.length, blobs: [], children: [] };
  if (isIndexMediaType(mediaType)) {
    info.children = json.manifests ?? [];
  } else if (json.config) {
    info.blobs = [json.config, ...(json.layers ?? []).filter((l) => !isForeignLayer(l))];
  }
  if (json.subject && typeof json.subject === 'object' && typeof json.subject.digest === 'string') info.subject = json.subject;
  if (typeof json.artifactType === 'string') info.artifactType = json.artifactType;
  if (typeof json.config?.mediaType === 'string') info.configMediaType = json.config.mediaType;
  if (json.annotations && typeof json.annotations === 'object') info.annotations = json.annotations;
  return info;
}

/**
 * A bounded least-recently-used map. Keys here are digests: content-addressed, so an entry never goes stale,
 * it only ages out. `weigh` gives an entry's cost (1 each by default; bytes for the manifest-bytes cache).
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();
  private total = 0;
  constructor(
    private readonly limit: number,
    private readonly weigh: (value: V) => number = () => 1,
  ) {}

  get(key: K): V | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: K, value: V): void {
    const weight = this.weigh(value);
    if (weight > this.limit / 8) return; // one huge entry must not flush everything else
    this.delete(key);
    this.entries.set(key, value);
    this.total += weight;
    for (const [oldKey, old] of this.entries) {
      if (this.total <= this.limit) break;
      this.entries.delete(oldKey);
      this.total -= this.weigh(old);
    }
  }

  delete(key: K): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.total -= this.weigh(old);
  }
}
