import type { Digest } from '../digest/index.js';
import type { WharfError } from '../errors.js';
import type { CopyEvent, CopyOptions } from '../copy/types.js';
import type { Logger } from '../transports/types.js';
import type { RegistryAccess } from '../transports/docker/access.js';

/** Where `wharf sync` reads images from (`--src`). */
export type SyncTransport = 'docker' | 'dir' | 'oci' | 'yaml';
/** Where it writes them (`--dest`). */
export type SyncDestinationTransport = 'docker' | 'dir' | 'oci';

export interface SyncOptions {
  /** docker: a registry repository; dir/oci: a local directory; yaml: skopeo's sync YAML file. */
  src: SyncTransport;
  dest: SyncDestinationTransport;
  /**
   * docker: `registry/repo` (every tag) or `registry/repo:tag` / `registry/repo@digest` (one image);
   * dir: a directory of `dir:` images (as `--dest dir` writes them) or one `dir:` image;
   * oci: an OCI layout (every image named in index.json), or a directory of layouts (as `--dest oci` writes them);
   * yaml: the path of the YAML file.
   */
  source: string;
  /** docker: `registry[/namespace]`; dir/oci: a directory. */
  destination: string;
  /** skopeo --scoped: put images under their full source name (`REGISTRY/NS/reg.example/a/b/app:1`). */
  scoped?: boolean;
  /** skopeo --append-suffix: appended to every destination tag (`1.0` → `1.0-mirror`). */
  appendSuffix?: string;
  /** skopeo -a: copy whole indexes (every platform), not just the host's image. */
  all?: boolean;
  /** Resolve tags and plan, copy nothing. */
  dryRun?: boolean;
  /** Go on after an image fails and list every failure in the result; otherwise the first failure stops the sync. */
  keepGoing?: boolean;
  /** Images copied at once (default 4). Each copy moves several blobs at once too (`copy.concurrency`). */
  parallel?: number;
  /** Credentials, TLS and registries.conf for the source registries (YAML entries may override per registry). */
  sourceRegistry?: RegistryAccess;
  destinationRegistry?: RegistryAccess;
  /** Options for each image's copy: format, compression, platform, blob concurrency, tmpDir. */
  copy?: Omit<CopyOptions, 'onEvent' | 'signal' | 'sourceRegistry' | 'destinationRegistry'>;
  signal?: AbortSignal;
  logger?: Logger;
  /** How the YAML file is read (default: the file system, capped at MAX_SYNC_YAML_BYTES). */
  readFile?: (path: string) => Promise<Buffer>;
  onEvent?: (event: SyncEvent) => void;
}

/** One image to sync, as full transport references: `docker://reg/ns/app:1` → `oci:/out/app:1`. */
export interface SyncItem {
  source: string;
  destination: string;
}

export interface SyncedItem extends SyncItem {
  /** Digest of the manifest written at the destination. */
  digest: Digest;
  bytesWritten: number;
  blobsCopied: number;
  blobsSkipped: number;
}

export interface SyncFailure {
  item: SyncItem;
  error: WharfError;
}

export interface SyncResult {
  /** Every image the source named, in order (what a dry run would copy). */
  planned: SyncItem[];
  /** The images copied, in the order they finished. */
  copied: SyncedItem[];
  /**
   * With keepGoing: the images that failed, and repositories whose tags could not be listed (their item's
   * source is the repository, e.g. `docker://reg/app`). Empty without keepGoing (the first failure is thrown).
   */
  failed: SyncFailure[];
  /** Bytes sent to the destination over all images. */
  bytesWritten: number;
}

interface ImageEventBase {
  item: SyncItem;
  /** Position in the plan, from 0, and the plan's length. */
  index: number;
  total: number;
}

export type SyncEvent =
  /** The plan is made: `images` images will be copied (or would be, in a dry run). */
  | { type: 'plan'; images: number; items: SyncItem[]; dryRun: boolean }
  | ({ type: 'image-start' } & ImageEventBase)
  | ({ type: 'image-done'; digest: Digest; bytesWritten: number; blobsCopied: number; blobsSkipped: number } & ImageEventBase)
  /** An image failed; `error.code` is ABORTED for copies stopped because another image failed first. */
  | ({ type: 'image-failed'; error: WharfError } & ImageEventBase)
  /** A repository's tags could not be listed (keepGoing; otherwise the error is thrown). */
  | { type: 'repository-failed'; repository: string; error: WharfError }
  /** The events of each image's copy, tagged with the image. */
  | (CopyEvent & { item: SyncItem });
