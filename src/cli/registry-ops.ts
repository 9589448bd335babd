/**
 * What the registry-only commands (list-tags, delete) need beyond the transport: a RegistryClient for the
 * repository a docker:// reference names, at its primary location (registries.conf may move a prefix to another
 * registry; mirrors are for pulls only), and the reference's parts.
 */
import { WharfError } from '../errors.js';
import type { DockerReference } from '../reference/index.js';
import type { RegistryClient } from '../registry-client/index.js';
import { DockerImageReference, openClient, type RegistryAccess } from '../transports/docker/index.js';
import type { ImageReference, Logger } from '../transports/types.js';
import { usageError } from './args.js';

export interface OpenRepository {
  client: RegistryClient;
  /** The repository path at the registry the client talks to (after registries.conf rewrites). */
  repo: string;
  /** `host[:port]/path` as the user named it (normalised): what skopeo prints as the repository. */
  name: string;
  ref: DockerReference;
}

/** The docker:// reference an operand must be, or a usage error that says what was expected. */
export function dockerOperand(ref: ImageReference, command: string, example: string): DockerImageReference {
  if (!(ref instanceof DockerImageReference)) {
    throw usageError(`'wharf ${command}' works on registries only, not on ${ref.transport?.name ?? 'this'}: references`, `write docker://REGISTRY/REPOSITORY…, e.g. ${example}`);
  }
  return ref;
}

/** A client for the repository of `reference`, at the registry that holds it. The caller closes the client. */
export async function openRepository(reference: DockerImageReference, access: RegistryAccess, logger: Logger | undefined, signal: AbortSignal): Promise<OpenRepository> {
  const ref = reference.ref;
  let domain = ref.domain;
  let path = ref.path;
  let insecure = false;
  if (access.registries) {
    const primary = access.registries.pullSources({ domain, path }).at(-1);
    if (!primary) throw new WharfError('REGISTRIES_CONF_INVALID', `registries.conf gives no location for ${ref.name()}`);
    domain = primary.rewrittenRef.domain;
    path = primary.rewrittenRef.path;
    insecure = primary.insecure;
  }
  if (domain !== ref.domain || path !== ref.path) logger?.debug?.(`${ref.name()}: registries.conf points to ${domain}/${path}`);
  const client = await openClient(access, domain, path, insecure, logger, signal);
  return { client, repo: path, name: ref.name(), ref };
}
