import type { Digest } from '../digest/index.js';
import type { Compression, ManifestFormat } from '../oci/media-types.js';
import type { Platform } from '../oci/types.js';
import type { Context } from '../transports/types.js';
import type { RegistryAccess } from '../transports/docker/access.js';

/** Progress of a copy, as events. The CLI turns them into bars on a TTY and lines otherwise. */
export type CopyEvent =
  | { type: 'copy-start'; source: string; destination: string }
  /** A blob begins to flow. `size` is -1 when unknown. */
  | { type: 'blob-start'; digest: Digest; size: number; kind: 'config' | 'layer' }
  /** Bytes so far for a blob; emitted at most every ~100 ms per blob, and once at the end. */
  | { type: 'blob-progress'; digest: Digest; bytes: number; size: number }
  /** The blob is stored; `written` is the digest at the destination (differs when recompressed). */
  | { type: 'blob-done'; digest: Digest; written: Digest; size: number }
  /** The destination had the blob already. */
  | { type: 'blob-skipped'; digest: Digest; size: number; kind: 'config' | 'layer' }
  | { type: 'manifest-written'; digest: Digest; mediaType: string; instance: boolean }
  | { type: 'copy-done'; digest: Digest };

export interface CopyOptions extends Context {
  /** Convert manifests to this format; default: keep the source's if the destination stores it. */
  format?: ManifestFormat;
  /** Recompress layers; default: as the destination needs (docker-archive plain, others as the source). */
  compression?: Compression;
  /** gzip level 1-9 when compressing (default 4, see DEFAULT_GZIP_LEVEL). */
  compressionLevel?: number;
  /** Copy every image of an index, and the index itself. */
  all?: boolean;
  /** Copy these platforms of an index (and an index that lists only them). */
  platforms?: Platform[];
  /** Which image to take from an index when neither all nor platforms is given; default: the host's. */
  platform?: Platform;
  /**
   * Fail, before anything becomes visible at the destination, if the manifest written would not be the
   * source's own bytes (a conversion or recompression was needed); as skopeo's --preserve-digests.
   */
  preserveDigests?: boolean;
  /** Blobs in flight at once (default 6). */
  concurrency?: number;
  onEvent?: (event: CopyEvent) => void;
  /** Registry settings for the source alone (--src-creds, --src-tls-verify); default: `registry`. */
  sourceRegistry?: RegistryAccess;
  /** Registry settings for the destination alone (--dest-creds, --dest-tls-verify); default: `registry`. */
  destinationRegistry?: RegistryAccess;
}

export interface CopyResult {
  /** Digest of the top-level manifest written to the destination. */
  digest: Digest;
  mediaType: string;
  /** Bytes sent to the destination, and blobs it already had. */
  bytesWritten: number;
  blobsCopied: number;
  blobsSkipped: number;
}
