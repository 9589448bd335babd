/**
 * config/: the containers tools' configuration files, read and written in their formats. Nothing here reads
 * the process environment, the home directory or the working directory: callers pass paths and an
 * environment object (only cli/ reads the process).
 */
export {
  AuthStore,
  DOCKER_HUB_LEGACY_KEY,
  authFileCandidates,
  authFileForWriting,
  isLegacyAuthFile,
  primaryAuthFile,
  removeAll,
  removeCredentials,
  setCredentials,
  type AuthEnv,
  type Credentials,
  type CredentialsFound,
  type HelperOptions,
} from './auth.js';
export { CREDENTIALS_NOT_FOUND } from './credential-helper.js';
export {
  RegistriesConf,
  loadRegistriesConf,
  parseRegistriesConf,
  registriesConfCandidates,
  type ImageRef,
  type PullFromMirror,
  type PullSource,
  type RegistriesConfCandidateOptions,
  type RegistriesEnv,
  type RegistryEntry,
  type RegistryMirror,
  type ShortNameMode,
} from './registries.js';
export { certDirCandidates, loadTlsConfig, type CertDirOptions, type TlsFiles } from './certs.js';
