import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../../digest/index.js';
import { MediaType } from '../../oci/media-types.js';
import type { Descriptor } from '../../oci/types.js';
import type { RegistryClient } from '../../registry-client/index.js';
import { streamToFile } from '../../util/fs.js';
import type { Context, DestinationCapabilities, ImageDestination, ImageSource, PutBlobExpectation } from '../types.js';
import { openClient } from './access.js';
import type { DockerImageReference } from './reference.js';
import { DockerSource, MANIFEST_ACCEPT } from './source.js';

/**
 * Pushes to a registry. Blobs it has are skipped (HEAD), blobs another repository of the same registry has are
 * mounted, the rest are uploaded (monolithic when small, in chunks when large); manifests go last, the children
 * of an index before the index. A registry cannot take back an upload, so an interrupted push leaves at most
 * unreferenced blobs, which no tag points at and the registry's garbage collection removes.
 */
export class DockerDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = {
    manifestTypes: [MediaType.OciManifest, MediaType.DockerManifest, MediaType.OciIndex, MediaType.DockerManifestList],
    acceptsIndex: true,
    concurrentPutBlob: true,
    layerCompression: 'compress',
  };

  private constructor(
    readonly reference: DockerImageReference,
    private readonly client: RegistryClient,
    private readonly domain: string,
    private readonly repo: string,
    private readonly ctx: Context,
  ) {}

  static async open(reference: DockerImageReference, ctx: Context): Promise<DockerDestination> {
    const access = ctx.registry ?? {};
    let { domain, path } = reference.ref;
    let insecure = false;
    if (access.registries) {
      // Pushes go to the primary location of the matching [[registry]], never to a mirror.
      const imageRef = { domain, path, ...(reference.ref.tag ? { tag: reference.ref.tag } : {}) };
      const primary = access.registries.pullSources(imageRef).at(-1)!;
      domain = primary.rewrittenRef.domain;
      path = primary.rewrittenRef.path;
      insecure = primary.insecure;
    }
    const client = await openClient(access, domain, path, insecure, ctx.logger, ctx.signal);
    return new DockerDestination(reference, client, domain, path, ctx);
  }

  async tryReuseBlob(descriptor: Descriptor, signal?: AbortSignal, source?: ImageSource): Promise<boolean> {
    const size = await this.client.headBlob(this.repo, descriptor.digest, signal);
    if (size !== undefined) return descriptor.size < 0 || size === descriptor.size;
    if (source instanceof DockerSource) {
      const from = source.location();
      if (from.domain === this.domain && from.repo !== this.repo) {
        return this.client.mountBlob(this.repo, descriptor.digest, from.repo, signal);
      }
    }
    return false;
  }

  async putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor> {
    if (expected.digest && expected.size !== undefined && expected.size >= 0) {
      await this.client.putBlob(this.repo, stream, { digest: expected.digest, size: expected.size }, signal);
      return { mediaType: expected.mediaType, digest: expected.digest, size: expected.size };
    }
    // Recompressed on the way: the digest is known only at the end, and the registry wants it with the upload's
    // last request. Spool to a temporary file, then upload from it (resumable from any offset).
    const dir = await fsp.mkdtemp(join(this.ctx.tmpDir ?? tmpdir(), 'wharf-push-'));
    try {
      const file = join(dir, `blob-${randomBytes(4).toString('hex')}`);
      const written = await streamToFile(stream, file, expected.digest ? { digest: expected.digest } : {}, signal);
      await this.client.putBlob(this.repo, createReadStream(file, { highWaterMark: 1 << 20 }), written, signal, {
        reopen: async (offset) => createReadStream(file, { start: offset, highWaterMark: 1 << 20 }),
      });
      return { mediaType: expected.mediaType, digest: written.digest, size: written.size };
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  async existingManifestDigest(signal?: AbortSignal): Promise<Digest | undefined> {
    const ref = this.reference.ref.digest ?? this.reference.ref.tag ?? 'latest';
    return (await this.client.headManifest(this.repo, ref, MANIFEST_ACCEPT, signal))?.digest;
  }

  async putManifest(bytes: Buffer, mediaType: string, instance?: Digest): Promise<void> {
    const ref = instance ?? this.reference.ref.digest ?? this.reference.ref.tag ?? 'latest';
    const digest = await this.client.putManifest(this.repo, ref, bytes, mediaType, this.ctx.signal);
    if (instance === undefined && this.reference.ref.digest && digest !== this.reference.ref.digest) {
      this.ctx.logger?.warn(`pushed manifest has digest ${digest}, not ${this.reference.ref.digest} as the reference says`);
    }
  }

  async commit(): Promise<void> {}

  async close(): Promise<void> {
    this.client.close();
  }
}
