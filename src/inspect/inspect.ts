import { digestOf } from '../digest/index.js';
import { WharfError } from '../errors.js';
import {
  parseConfig,
  parseManifest,
  schema1Config,
  schema1Layers,
  type ParsedManifest,
} from '../oci/manifest.js';
import { chooseInstance, hostPlatform } from '../oci/platform.js';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { readSmallBlob } from '../transports/read-small.js';
import type { Context, ImageReference, ImageSource } from '../transports/types.js';
import { goTimeString } from './go-time.js';
import type { InspectOutput, InspectResult } from './types.js';

export interface InspectOptions extends Context {
  /** Which image of an index to describe; default: the host's platform, as skopeo does. */
  platform?: Platform;
  /** Do not list the repository's tags (skopeo inspect --no-tags). */
  noTags?: boolean;
}

/** What `skopeo inspect` tells about an image, read without fetching any layer. */
export async function inspectImage(ref: ImageReference, options: InspectOptions = {}): Promise<InspectResult> {
  const source = await ref.newSource(options);
  try {
    return await inspectSource(source, options);
  } finally {
    await source.close();
  }
}

export async function inspectSource(source: ImageSource, options: InspectOptions = {}): Promise<InspectResult> {
  const top = await source.getManifest(undefined, options.signal);
  const where = `manifest of ${source.reference}`;
  const parsedTop = parseManifest(top.bytes, top.mediaType || undefined, where);
  let image: ParsedManifest = parsedTop;
  let platforms: InspectResult['platforms'];
  if (parsedTop.kind === 'index') {
    platforms = parsedTop.manifest.manifests.map((d) => ({ platform: d.platform, digest: d.digest, mediaType: d.mediaType, size: d.size }));
    const chosen = chooseInstance(parsedTop.manifest, options.platform ?? hostPlatform());
    const child = await source.getManifest(chosen.digest, options.signal);
    const actual = digestOf(child.bytes);
    if (actual !== chosen.digest) {
      throw new WharfError('DIGEST_MISMATCH', `manifest ${chosen.digest} of ${source.reference} has digest ${actual}`);
    }
    image = parseManifest(child.bytes, chosen.mediaType, `manifest ${chosen.digest} of ${source.reference}`);
    if (image.kind === 'index') throw new WharfError('UNSUPPORTED', 'nested indexes are not supported by inspect');
  }

  let config: ImageConfig;
  let configBytes: Buffer | undefined;
  let layers: Descriptor[];
  if (image.kind === 'schema1') {
    config = schema1Config(image.manifest);
    layers = schema1Layers(image.manifest);
  } else if (image.kind === 'image') {
    configBytes = await readSmallBlob(source, image.manifest.config, options.signal);
    config = parseConfig(configBytes, `config ${image.manifest.config.digest} of ${source.reference}`);
    layers = image.manifest.layers;
  } else {
    throw new WharfError('UNSUPPORTED', 'nested indexes are not supported by inspect');
  }

  const dockerRef = source.resolvedReference?.() ?? source.reference.dockerReference();
  // Field order is skopeo's (Go struct order): scripts and diffs of the two outputs line up.
  const output = {
    ...(dockerRef ? { Name: dockerRef.name() } : {}),
    Digest: parsedTop.digest,
    // skopeo lists a repository's tags only for registries; for every local transport it prints [].
    RepoTags: options.noTags || !source.repositoryTags ? [] : await source.repositoryTags(options.signal),
    Created: goTimeString(config.created),
    DockerVersion: config.docker_version ?? '',
    Labels: config.config?.Labels ?? null,
    Architecture: config.architecture ?? '',
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os ?? '',
    Layers: layers.map((l) => l.digest),
    LayersData: layers.map((l) => ({
      MIMEType: l.mediaType,
      Digest: l.digest,
      Size: l.size,
      Annotations: l.annotations ?? null,
    })),
    Env: config.config?.Env ?? null,
  } satisfies InspectOutput;
  const result: InspectResult = {
    output,
    rawManifest: top.bytes,
    rawMediaType: parsedTop.mediaType,
    config,
    imageManifest: image.bytes,
    imageMediaType: image.mediaType,
  };
  if (configBytes) result.rawConfig = configBytes;
  if (platforms) result.platforms = platforms;
  return result;
}
