import { dirTransport } from './dir/index.js';
import { dockerTransport } from './docker/index.js';
import { dockerArchiveTransport } from './docker-archive/index.js';
import { ociArchiveTransport } from './oci-archive/index.js';
import { ociLayoutTransport } from './oci-layout/index.js';
import { TransportRegistry } from './registry.js';

/** A registry of every transport wharf ships, made fresh for each caller (no shared mutable state). */
export function defaultTransports(): TransportRegistry {
  return new TransportRegistry([dockerTransport, ociLayoutTransport, dirTransport, dockerArchiveTransport, ociArchiveTransport]);
}

export { TransportRegistry } from './registry.js';
export * from './types.js';
export { OciLayoutReference, ociLayoutTransport } from './oci-layout/index.js';
export { DirReference, dirTransport } from './dir/index.js';
export { DockerArchiveReference, dockerArchiveTransport } from './docker-archive/index.js';
export { OciArchiveReference, ociArchiveTransport } from './oci-archive/index.js';
export { DockerImageReference, dockerTransport, type RegistryAccess } from './docker/index.js';
