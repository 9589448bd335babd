import type { Readable } from 'node:stream';
import type { Digest } from '../../digest/index.js';
import type { Descriptor } from '../../oci/types.js';

/**
 * What the registry server needs from its storage. The HTTP layer (server/http) speaks the distribution API
 * and checks access; the storage keeps content safe: a blob becomes visible only after it was verified, every
 * write is atomic, and nothing acknowledged is lost in a crash. One implementation lives in server/storage/fs.ts.
 *
 * Repository names reaching the storage are already validated by the HTTP layer (the distribution grammar);
 * the storage checks them again before it turns them into paths.
 */
export interface RegistryStorage {
  // ---- blobs: content-addressed, stored once, visible in a repository once it was pushed or mounted there
  /** Size of a blob visible in `repo`, or undefined. */
  statBlob(repo: string, digest: Digest): Promise<{ size: number } | undefined>;
  /** Read a blob visible in `repo`; `range` is inclusive, as in HTTP. The path allows zero-copy serving. */
  openBlob(repo: string, digest: Digest, range?: { start: number; end: number }): Promise<{ stream: Readable; size: number; path?: string } | undefined>;
  /** Make a blob that exists in another repository visible in `repo` too (cross-repository mount). */
  mountBlob(repo: string, digest: Digest, fromRepo?: string): Promise<boolean>;
  /** Remove a blob from `repo` (the bytes go only when no repository uses them, at garbage collection). */
  deleteBlob(repo: string, digest: Digest): Promise<boolean>;

  // ---- uploads: survive a restart; never visible until finished and verified
  startUpload(repo: string): Promise<{ id: string }>;
  /** Append at `offset`, which must equal the upload's current size (else UPLOAD_RANGE_INVALID → 416). */
  appendUpload(repo: string, id: string, body: Readable, offset: number, limit: number): Promise<{ size: number }>;
  uploadStatus(repo: string, id: string): Promise<{ size: number } | undefined>;
  /** Verify the whole upload against `digest`, make it a blob visible in `repo`, forget the upload. */
  finishUpload(repo: string, id: string, digest: Digest): Promise<{ size: number }>;
  cancelUpload(repo: string, id: string): Promise<boolean>;

  // ---- manifests and tags
  getManifest(repo: string, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: Digest } | undefined>;
  /**
   * Store a manifest (already validated by the caller: JSON, media type, size, every referenced blob and child
   * present) under its digest, and point `tag` at it when given. Returns the digest.
   */
  putManifest(repo: string, bytes: Buffer, mediaType: string, tag?: string): Promise<Digest>;
  /** Delete a manifest by digest (and every tag pointing at it). */
  deleteManifest(repo: string, digest: Digest): Promise<boolean>;
  listTags(repo: string): Promise<string[] | undefined>;
  listRepositories(): Promise<string[]>;
  /** Manifests whose `subject` is `digest`, as descriptors (artifactType and annotations included). */
  referrers(repo: string, digest: Digest): Promise<Descriptor[]>;

  close(): Promise<void>;
}
