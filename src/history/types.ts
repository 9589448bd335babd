import type { Digest } from '../digest/index.js';

/** The layer a history entry made, as the manifest describes it. */
export interface HistoryLayer {
  /** Position in the manifest's layer list, base layer first (0-based). */
  index: number;
  digest: Digest;
  mediaType: string;
  /** Size of the blob as stored (compressed, for compressed layers), from the manifest; -1 when it does not say (schema 1). */
  size: number;
  /** The config's rootfs.diff_ids entry for this layer: the digest of the uncompressed tar, when the config has it. */
  diffId?: Digest;
}

/**
 * One line of `wharf history`, as `docker history` shows it: one per entry of the config's `history`, newest
 * first. Every string comes from the image and is untrusted: escape it before printing it on a terminal.
 */
export interface ImageHistoryEntry {
  /**
   * What docker prints in the IMAGE column: the digest of the image's manifest for the newest entry (the image
   * itself), absent for the others (docker's `<missing>`: they are not images of their own).
   */
  id?: Digest;
  /** The entry's `created` exactly as the config has it (RFC 3339); absent when unknown. */
  created?: string;
  /** The command that made the entry (`/bin/sh -c #(nop) …`), as the config has it; absent when unknown. */
  createdBy?: string;
  comment?: string;
  author?: string;
  /** True when the step changed only metadata and made no layer (`empty_layer`, schema 1 `throwaway`). */
  emptyLayer: boolean;
  /**
   * Size in bytes of the step's layer as stored, i.e. compressed (the manifest's descriptor size): docker shows
   * the uncompressed size instead, which cannot be known without reading the layer, so wharf shows what the
   * registry stores, as skopeo and crane do. 0 for an empty layer; absent when unknown (schema 1 manifests carry
   * no sizes; an entry that no layer could be matched to).
   */
  size?: number;
  /** The layer this entry made; absent for empty layers and for entries no layer could be matched to. */
  layer?: HistoryLayer;
  /**
   * True for an entry wharf made up because the config does not describe this layer (a config without
   * `history`, or with fewer non-empty entries than the manifest has layers): it has no created/createdBy.
   */
  synthetic?: true;
}
