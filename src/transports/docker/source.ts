import type { PullSource } from '../../config/index.js';
import type { Digest } from '../../digest/index.js';
import { NotFoundError, WharfError } from '../../errors.js';
import { ALL_MANIFEST_TYPES } from '../../oci/media-types.js';
import type { Descriptor } from '../../oci/types.js';
import { parseDockerReference, type DockerReference } from '../../reference/index.js';
import type { RegistryClient } from '../../registry-client/index.js';
import type { BlobStream, Context, ImageSource, ManifestBlob } from '../types.js';
import { openClient, type RegistryAccess } from './access.js';
import type { DockerImageReference } from './reference.js';

/** Every manifest type wharf reads, preferred first: what skopeo sends in Accept. */
export const MANIFEST_ACCEPT = [...ALL_MANIFEST_TYPES];

interface Candidate {
  ref: DockerReference;
  source: PullSource;
}

/** Reads an image from a registry: the manifest once, blobs on demand, nothing buffered. */
export class DockerSource implements ImageSource {
  private constructor(
    readonly reference: DockerImageReference,
    /** The image's name after short-name resolution (a mirror serving it does not change its name). */
    readonly resolved: DockerReference,
    /** The registry the bytes come from: the resolved one, or a mirror of it. */
    private readonly endpointDomain: string,
    private readonly client: RegistryClient,
    private readonly repo: string,
    private readonly top: ManifestBlob,
  ) {}

  static async open(reference: DockerImageReference, ctx: Context): Promise<DockerSource> {
    const access: RegistryAccess = ctx.registry ?? {};
    const tried: string[] = [];
    let lastError: unknown;
    for (const candidate of candidates(reference, access)) {
      const rewritten = candidate.source.rewrittenRef;
      const where = `${rewritten.domain}/${rewritten.path}`;
      let client: RegistryClient | undefined;
      try {
        client = await openClient(access, rewritten.domain, rewritten.path, candidate.source.insecure, ctx.logger, ctx.signal);
        const ref = rewritten.digest ?? rewritten.tag ?? 'latest';
        const m = await client.getManifest(rewritten.path, ref, MANIFEST_ACCEPT, ctx.signal);
        if (reference.shortName !== undefined || candidate.source.mirror) {
          ctx.logger?.warn(`${reference.toString().slice('docker://'.length)}: using ${where}${candidate.source.mirror ? ' (mirror)' : ''}`);
        }
        return new DockerSource(reference, candidate.ref, rewritten.domain, client, rewritten.path, { bytes: m.bytes, mediaType: m.mediaType });
      } catch (err) {
        client?.close();
        tried.push(where);
        lastError = err;
        if (ctx.signal?.aborted) throw err;
      }
    }
    if (tried.length <= 1) throw lastError;
    const last = lastError instanceof WharfError ? lastError.message : String(lastError);
    throw new NotFoundError('IMAGE_NOT_FOUND', `${reference.toString()} was not found in any of: ${tried.join(', ')}`, {
      hint: `the last one said: ${last}`,
      cause: lastError,
    });
  }

  async getManifest(instance?: Digest, signal?: AbortSignal): Promise<ManifestBlob> {
    if (!instance) return this.top;
    const m = await this.client.getManifest(this.repo, instance, MANIFEST_ACCEPT, signal);
    return { bytes: m.bytes, mediaType: m.mediaType };
  }

  getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream> {
    return this.client.getBlob(this.repo, descriptor, signal);
  }

  repoTags(): string[] {
    return [];
  }

  resolvedReference(): DockerReference {
    return this.resolved;
  }

  /** Every tag of the repository, as skopeo inspect lists them in RepoTags. */
  async repositoryTags(signal?: AbortSignal): Promise<string[]> {
    const tags: string[] = [];
    for await (const tag of this.client.listTags(this.repo, signal)) tags.push(tag);
    return tags;
  }

  /** Where the blobs of this source live, for cross-repository mounts at a destination on the same registry. */
  location(): { domain: string; repo: string } {
    return { domain: this.endpointDomain, repo: this.repo };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The places to look for an image, in order: short-name candidates, each with its mirrors first. */
function* candidates(reference: DockerImageReference, access: RegistryAccess): Generator<Candidate> {
  const conf = access.registries;
  const refs: DockerReference[] = [];
  if (reference.shortName !== undefined && conf) {
    const alias = conf.resolveAlias(reference.shortName + suffixOf(reference.ref));
    if (alias) refs.push(parseDockerReference(alias));
    else if (conf.unqualifiedSearchRegistries.length > 0) {
      for (const registry of conf.unqualifiedSearchRegistries) {
        refs.push(parseDockerReference(`${registry}/${reference.shortName}${suffixOf(reference.ref)}`));
      }
    }
  }
  if (refs.length === 0) refs.push(reference.ref);
  for (const ref of refs) {
    const imageRef = { domain: ref.domain, path: ref.path, ...(ref.tag ? { tag: ref.tag } : {}), ...(ref.digest ? { digest: ref.digest } : {}) };
    const sources: PullSource[] = conf
      ? conf.pullSources(imageRef)
      : [{ endpoint: ref.domain, insecure: false, rewrittenRef: imageRef, mirror: false }];
    for (const source of sources) yield { ref, source };
  }
}

function suffixOf(ref: DockerReference): string {
  return `${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
