export { DockerArchiveReference, dockerArchiveTransport, DOCKER_ARCHIVE } from './reference.js';
export { DockerArchiveSource } from './source.js';
export {
  DockerArchiveDestination,
  DOCKER_ARCHIVE_CAPABILITIES,
  type DockerArchiveDestinationOptions,
} from './destination.js';
export {
  DockerArchiveReader,
  MAX_ARCHIVE_MANIFEST_BYTES,
  normalizeRepoTag,
  parseArchiveManifest,
  sniffCompression,
  type ArchiveManifestItem,
  type SniffedCompression,
} from './archive.js';
export { synthesizeSchema2Manifest, legacyLayers } from './gojson.js';
