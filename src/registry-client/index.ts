export {
  RegistryClient,
  nextLink,
  type ListOptions,
  type ManifestResult,
  type PutBlobOptions,
  type RegistryClientOptions,
} from './client.js';
export {
  chooseChallenge,
  normalizeScopes,
  parseChallenges,
  repositoryScope,
  type Challenge,
  type CredentialsSource,
  type Logger,
  type RegistryCredentials,
} from './auth.js';
export type { TlsOptions } from './http.js';
export { RegistryError, parseErrorBody } from './registry-errors.js';
