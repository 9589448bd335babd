import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { DockerReference } from '../reference/index.js';
import type { RegistryAccess } from './docker/access.js';

/** Where a message goes; the CLI decides how it is shown. Nothing in the library writes to the console. */
export interface Logger {
  warn(message: string): void;
  debug?(message: string): void;
}

/**
 * What every operation is handed instead of reading globals: cancellation, scratch space, the platform to pick
 * from an index, and where warnings go.
 */
export interface Context {
  signal?: AbortSignal;
  /** Credentials, TLS and registries.conf for registry transports (docker://). */
  registry?: RegistryAccess;
  /** More NAME:TAG references a destination that keeps names stores the image under (docker-archive). */
  additionalTags?: string[];
  /** Scratch directory for temporary files that do not belong inside a destination. Default: os.tmpdir(). */
  tmpDir?: string;
  logger?: Logger;
}

export interface Transport {
  /** The prefix before the first colon: `oci`, `dir`, `docker-archive`, `oci-archive`. */
  readonly name: string;
  /** Parse what follows `name:`; throws INVALID_REFERENCE naming the part that is wrong. */
  parse(within: string): ImageReference;
}

export interface ImageReference {
  readonly transport: Transport;
  /** The reference as a user writes it, `transport:within`, suitable for parsing back. */
  toString(): string;
  /** The docker reference (registry/repo:tag) this image is known by, if any (e.g. an archive's RepoTag). */
  dockerReference(): DockerReference | undefined;
  /** Open the image for reading. The caller MUST close the source. */
  newSource(ctx?: Context): Promise<ImageSource>;
  /** Open the location for writing. The caller MUST commit (to keep) and then close the destination. */
  newDestination(ctx?: Context): Promise<ImageDestination>;
}

export interface ManifestBlob {
  bytes: Buffer;
  /** The media type as the transport knows it; may be empty when the transport stores none (dir:). */
  mediaType: string;
}

export interface BlobStream {
  stream: Readable;
  /** -1 when the transport cannot tell in advance. */
  size: number;
}

export interface ImageSource {
  readonly reference: ImageReference;
  /**
   * With no `instance`: the manifest the reference names (which may be an index). With an `instance` digest:
   * that child of the index. The bytes are exactly as stored, so their digest is the manifest digest.
   */
  getManifest(instance?: Digest, signal?: AbortSignal): Promise<ManifestBlob>;
  /**
   * A stream of the blob's bytes as stored. The source MAY skip verification: the copy engine verifies digest
   * and size while it streams. Throws BLOB_UNKNOWN (a NotFoundError) when the blob is missing.
   */
  getBlob(descriptor: Descriptor, signal?: AbortSignal): Promise<BlobStream>;
  /** Tags the source knows the image by (docker-archive RepoTags); empty for most transports. */
  repoTags(): string[];
  /**
   * The docker reference the image was actually read from, when it differs from the reference's own (a short
   * name resolved through registries.conf, a mirror).
   */
  resolvedReference?(): DockerReference | undefined;
  /** Every tag of the image's repository, where the transport has repositories (registries). */
  repositoryTags?(signal?: AbortSignal): Promise<string[]>;
  close(): Promise<void>;
}

export type LayerCompressionPolicy = 'preserve' | 'compress' | 'decompress';

/** What a destination can store, as data the copy engine reads rather than a list of boolean methods. */
export interface DestinationCapabilities {
  /** Manifest media types it stores, preferred first. */
  manifestTypes: readonly string[];
  /** Whether it can store an index with several images (copy --all). */
  acceptsIndex: boolean;
  /** Whether putBlob may be called for several blobs at once. */
  concurrentPutBlob: boolean;
  /** What it needs done to layers by default: docker-archive wants plain tars, registries and oci: want them compressed. */
  layerCompression: LayerCompressionPolicy;
}

export interface PutBlobExpectation {
  /** When known, the bytes MUST hash to this or putBlob fails and nothing becomes visible. */
  digest?: Digest;
  size?: number;
  mediaType: string;
}

export interface ImageDestination {
  readonly reference: ImageReference;
  readonly capabilities: DestinationCapabilities;
  /**
   * True when the destination already holds this blob, so it need not be sent. `source` lets a destination
   * reuse what it can reach cheaply (a registry mounts a blob from another repository of the same registry).
   */
  tryReuseBlob(descriptor: Descriptor, signal?: AbortSignal, source?: ImageSource): Promise<boolean>;
  /**
   * Store a blob. The destination hashes while it writes and verifies `expected.digest`/`size` when given;
   * it returns the descriptor of what it stored. A blob that fails verification is never visible.
   */
  putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor>;
  /**
   * Store a manifest. MUST be called after every blob it references was put. With `instance`, the manifest is
   * a child of the index that is put last, without `instance`.
   */
  putManifest(bytes: Buffer, mediaType: string, instance?: Digest): Promise<void>;
  /**
   * The digest of the manifest the destination reference names now, if the destination can tell cheaply (a
   * registry answers a HEAD). When it is the digest a copy would write, the copy has nothing to do.
   */
  existingManifestDigest?(signal?: AbortSignal): Promise<Digest | undefined>;
  /** Make everything put so far visible, atomically where the storage allows it. */
  commit(): Promise<void>;
  /** Release resources; if commit was not called, discard everything so the location is left as it was. */
  close(): Promise<void>;
}

export type { Descriptor, Platform };
