import type { Digest } from '../digest/index.js';
import type { ImageConfig, Platform } from '../oci/types.js';

/** One layer as `skopeo inspect` lists it in LayersData. */
export interface InspectLayer {
  MIMEType: string;
  Digest: Digest;
  Size: number;
  Annotations: Record<string, string> | null;
}

/** Exactly the fields and order of `skopeo inspect` output, so scripts that parse it carry over. */
export interface InspectOutput {
  [key: string]: unknown;
  Name?: string;
  Tag?: string;
  Digest: Digest;
  RepoTags: string[];
  Created: string | null;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  Layers: Digest[];
  LayersData: InspectLayer[];
  Env: string[] | null;
}

/** Everything inspect learns, for the table view and for callers of the library. */
export interface InspectResult {
  output: InspectOutput;
  /** The bytes and type of the manifest the reference names (an index, when it names one). */
  rawManifest: Buffer;
  rawMediaType: string;
  /** The chosen image's config, parsed and as stored (absent for schema 1, which has none). */
  config: ImageConfig;
  rawConfig?: Buffer;
  /** The chosen image's own manifest (the same as rawManifest unless the reference names an index). */
  imageManifest: Buffer;
  imageMediaType: string;
  /** Platforms listed in the index, when the reference names one. */
  platforms?: { platform: Platform | undefined; digest: Digest; mediaType: string; size: number }[];
}
