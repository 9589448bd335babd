import { WharfError } from '../errors.js';
import { MediaType, type ManifestFormat } from './media-types.js';
import type { Descriptor, ImageIndex, ImageManifest } from './types.js';

export function manifestFormatOf(mediaType: string): ManifestFormat {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.OciIndex ? 'oci' : 'v2s2';
}

export function imageManifestType(format: ManifestFormat): string {
  return format === 'oci' ? MediaType.OciManifest : MediaType.DockerManifest;
}

export function indexType(format: ManifestFormat): string {
  return format === 'oci' ? MediaType.OciIndex : MediaType.DockerManifestList;
}

export function configMediaType(format: ManifestFormat, current: string): string {
  // Only the two image config types are converted; an artifact's own config type is left alone.
  if (current === MediaType.OciConfig || current === MediaType.DockerConfig) {
    return format === 'oci' ? MediaType.OciConfig : MediaType.DockerConfig;
  }
  if (format === 'v2s2') {
    throw new WharfError('CONVERSION_UNSUPPORTED', `a config of type ${current} cannot be stored in a Docker schema 2 manifest`, {
      hint: 'copy it with --format oci',
    });
  }
  return current;
}

/** Only the descriptor fields each format defines, in the order Go's encoders write them. */
function cleanDescriptor(d: Descriptor, format: ManifestFormat): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls) out.urls = d.urls;
  if (format === 'oci') {
    if (d.annotations) out.annotations = d.annotations;
    if (d.data) out.data = d.data;
    if (d.artifactType) out.artifactType = d.artifactType;
  }
  if (d.platform) out.platform = d.platform;
  return out;
}

/** Serialise an image manifest in a format, with the config and layers given (already converted). */
export function serializeImageManifest(
  format: ManifestFormat,
  config: Descriptor,
  layers: Descriptor[],
  original: ImageManifest,
): Buffer {
  const m: Record<string, unknown> = { schemaVersion: 2, mediaType: imageManifestType(format) };
  if (format === 'oci' && original.artifactType) m.artifactType = original.artifactType;
  m.config = cleanDescriptor(config, format);
  m.layers = layers.map((l) => cleanDescriptor(l, format));
  if (format === 'oci') {
    if (original.subject) m.subject = original.subject;
    if (original.annotations) m.annotations = original.annotations;
  }
  return Buffer.from(JSON.stringify(m));
}

export function serializeIndex(format: ManifestFormat, manifests: Descriptor[], original: ImageIndex): Buffer {
  const m: Record<string, unknown> = { schemaVersion: 2, mediaType: indexType(format) };
  if (format === 'oci' && original.artifactType) m.artifactType = original.artifactType;
  m.manifests = manifests.map((d) => cleanDescriptor(d, format));
  if (format === 'oci') {
    if (original.subject) m.subject = original.subject;
    if (original.annotations) m.annotations = original.annotations;
  }
  return Buffer.from(JSON.stringify(m));
}
