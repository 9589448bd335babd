export { DockerImageReference, dockerTransport } from './reference.js';
export { DockerSource, MANIFEST_ACCEPT } from './source.js';
export { DockerDestination } from './destination.js';
export { openClient, type RegistryAccess } from './access.js';
