/** Media types of the OCI image-spec and of Docker's image manifest v2 (schema 2, and schema 1 read-only). */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Every manifest type wharf reads, preferred first (what a registry is sent in Accept, as skopeo does). */
export const ALL_MANIFEST_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.DockerSchema1Signed,
  MediaType.DockerSchema1,
];

export type ManifestFormat = 'oci' | 'v2s2';
export type Compression = 'gzip' | 'zstd' | 'none';

export function isIndexMediaType(mt: string): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isImageManifestMediaType(mt: string): boolean {
  return (
    mt === MediaType.OciManifest ||
    mt === MediaType.DockerManifest ||
    mt === MediaType.DockerSchema1 ||
    mt === MediaType.DockerSchema1Signed
  );
}

export function isSchema1(mt: string): boolean {
  return mt === MediaType.DockerSchema1 || mt === MediaType.DockerSchema1Signed;
}

/** The compression a layer media type declares (docker's gzip type is also used for plain tars by docker-archive). */
export function layerCompression(mt: string): Compression | undefined {
  if (mt.endsWith('+gzip') || mt.endsWith('.tar.gzip')) return 'gzip';
  if (mt.endsWith('+zstd')) return 'zstd';
  if (mt === MediaType.OciLayer || mt === MediaType.OciLayerNondistributable) return 'none';
  return undefined;
}

export function isLayerMediaType(mt: string): boolean {
  return layerCompression(mt) !== undefined;
}

/** The layer media type for a format and compression; undefined when the format cannot express it. */
export function layerMediaType(format: ManifestFormat, compression: Compression, foreign = false): string | undefined {
  if (format === 'v2s2') {
    // Docker schema 2 has no type for uncompressed or zstd layers; docker-archive relies on readers sniffing.
    if (compression !== 'gzip') return undefined;
    return foreign ? MediaType.DockerLayerForeignGzip : MediaType.DockerLayerGzip;
  }
  const base = foreign ? MediaType.OciLayerNondistributable : MediaType.OciLayer;
  return compression === 'none' ? base : `${base}+${compression}`;
}
