import { Transform, type Readable } from 'node:stream';
import { DigestingStream, newHasher, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { inspectSource } from '../inspect/inspect.js';
import type { Context, ImageReference, ImageSource } from '../transports/types.js';

/** An image opened for reading its filesystem: its config and its layers, base first. */
export interface OpenedImage {
  source: ImageSource;
  config: ImageConfig;
  layers: Descriptor[];
  /** The config's rootfs.diff_ids, one per layer when the config has them. */
  diffIds: Digest[];
  close(): Promise<void>;
}

export interface OpenImageOptions extends Context {
  platform?: Platform;
}

/** Open an image (choosing a platform of an index as inspect does) without reading any layer yet. */
export async function openImage(ref: ImageReference, options: OpenImageOptions = {}): Promise<OpenedImage> {
  const source = await ref.newSource(options);
  try {
    const info = await inspectSource(source, { ...options, noTags: true });
    const layers: Descriptor[] = info.output.LayersData.map((l) => ({ mediaType: l.MIMEType, digest: l.Digest as Digest, size: l.Size }));
    const diffIds = (info.config.rootfs?.diff_ids ?? []) as Digest[];
    return { source, config: info.config, layers, diffIds, close: () => source.close() };
  } catch (err) {
    await source.close();
    throw err;
  }
}

/**
 * One layer's bytes as stored, verified as they stream: the blob's digest and size at the end (a DIGEST_MISMATCH
 * then fails the reader of the stream), so a corrupt layer is never taken for a good one.
 */
export async function layerBlob(image: OpenedImage, index: number, signal?: AbortSignal): Promise<Readable> {
  const d = image.layers[index]!;
  const { stream } = await image.source.getBlob(d, signal);
  const expect: { digest: Digest; size?: number; where: string } = { digest: d.digest, where: `layer ${index + 1} (${d.digest}) of ${image.source.reference}` };
  if (d.size >= 0) expect.size = d.size;
  const verify = new DigestingStream(expect);
  stream.on('error', (err) => verify.destroy(err));
  return stream.pipe(verify);
}

/**
 * A pass-through for a layer's uncompressed tar that checks it against the config's diff_id at the end: the
 * config vouches for the uncompressed content, so a layer that decompresses to something else is refused.
 */
export function diffIdCheck(expected: Digest | undefined, where: string): Transform {
  const hash = newHasher(expected ? expected.slice(0, expected.indexOf(':')) : 'sha256');
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (!expected) {
        done();
        return;
      }
      const actual = `${expected.slice(0, expected.indexOf(':'))}:${hash.digest('hex')}`;
      done(actual === expected ? null : new WharfError('DIGEST_MISMATCH', `${where}: uncompressed content has digest ${actual}, but the config's diff_id is ${expected}`, { hint: 'the image is corrupt or was tampered with' }));
    },
  });
}
