export { sync } from './sync.js';
export { parseSyncYaml, MAX_SYNC_YAML_BYTES, MAX_YAML_ALIASES } from './yaml.js';
export type { SyncYaml, SyncYamlRegistry, SyncYamlCredentials, SyncYamlImages } from './yaml.js';
export { parseSemver, parseSemverConstraint, compareSemver, SemverConstraint, type SemverVersion } from './semver.js';
export { compileGoRegexp, compileTagRegexp, GoRegexpError } from './go-regexp.js';
export { destinationFor, MAX_TAGS_PER_REPOSITORY } from './plan.js';
export type {
  SyncTransport,
  SyncDestinationTransport,
  SyncOptions,
  SyncItem,
  SyncedItem,
  SyncFailure,
  SyncResult,
  SyncEvent,
} from './types.js';
