import { pipeline } from 'node:stream/promises';
import { decompressor, sniffCompression } from '../archive/compression.js';
import { WharfError } from '../errors.js';
import { FileTree } from '../layer/file-tree.js';
import { readLayerEntries } from '../layer/tar-stream.js';
import type { LayerEntry, LayerEntryWithBody } from '../layer/types.js';
import { whiteoutOf } from '../layer/whiteout.js';
import type { ImageReference } from '../transports/types.js';
import { blobIntegrityError } from '../transports/verify-blob.js';
import { diffIdCheck, layerBlob, openImage, type OpenImageOptions, type OpenedImage } from './image-layers.js';

export interface LayerVisit {
  index: number;
  entry: LayerEntry;
  /** The file's bytes (files only); leave it alone to skip them. */
  body?: LayerEntryWithBody['body'];
}

export interface ReadLayersOptions extends OpenImageOptions {
  onWarning?: (message: string) => void;
  /** Which layers to read (default all), by index. */
  only?: (index: number) => boolean;
}

/**
 * Stream every layer of an opened image through `visit`, entry by entry, each layer verified as it streams
 * (blob digest, and the diff_id of its uncompressed tar); a damaged layer is reported as DIGEST_MISMATCH even
 * when the damage breaks its decompression first. Bodies a visitor does not read are skipped.
 */
export async function readLayers(image: OpenedImage, visit: (v: LayerVisit) => void | Promise<void>, options: ReadLayersOptions = {}): Promise<void> {
  for (let index = 0; index < image.layers.length; index++) {
    if (options.only && !options.only(index)) continue;
    await readLayer(image, index, async (entries) => {
      for await (const { entry, body } of entries) {
        const v: LayerVisit = { index, entry };
        if (body) v.body = body;
        await visit(v);
      }
    }, options);
  }
}

/** One layer's entries, handed to `consume`, with the verification and the failure diagnosis of readLayers. */
export async function readLayer(image: OpenedImage, index: number, consume: (entries: AsyncGenerator<LayerEntryWithBody>) => Promise<void>, options: ReadLayersOptions = {}): Promise<void> {
  const d = image.layers[index]!;
  const where = `layer ${index + 1} (${d.digest})`;
  const { compression, stream } = await sniffCompression(await layerBlob(image, index, options.signal));
  const check = diffIdCheck(image.diffIds[index], where);
  const decompress = decompressor(compression);
  // The chain runs while the tar reader consumes its end; its promise carries the first error of any stage.
  const chain = decompress ? pipeline(stream, decompress, check) : pipeline(stream, check);
  chain.catch(() => {});
  try {
    const readerOptions: Parameters<typeof readLayerEntries>[1] = { where };
    if (options.signal) readerOptions.signal = options.signal;
    if (options.onWarning) readerOptions.onWarning = options.onWarning;
    await consume(readLayerEntries(check, readerOptions));
    check.resume(); // bytes after the end-of-archive blocks still count for the digests
  } catch (err) {
    check.destroy();
    // Upstream's own failure (a digest mismatch) explains a reader's "stream ended" better; the premature
    // close our destroy() causes does not. A damaged blob often breaks the decompressor or the tar before its
    // digest is known: then it is hashed once more.
    const upstream = await chain.then(() => undefined, (cause: unknown) => cause);
    if (upstream instanceof WharfError && upstream.code === 'DIGEST_MISMATCH') throw upstream;
    const integrity = await blobIntegrityError(image.source, d, `${where} of ${image.source.reference}`, options.signal);
    throw integrity ?? (upstream instanceof WharfError ? upstream : err);
  }
  await chain;
}

export interface ImageTree {
  tree: FileTree;
  image: OpenedImage;
}

export interface ImageTreeOptions extends ReadLayersOptions {
  /**
   * Called with each layer's entries (whiteout markers included) just before they are applied to `tree`, which
   * then still shows the layers below: how the layer's paths resolve (symlinked parents) at that moment. `image`
   * is the image being read (its layer descriptors, for progress).
   */
  beforeLayer?: (index: number, entries: readonly LayerEntry[], tree: FileTree, image: OpenedImage) => void;
}

/**
 * An image's filesystem from its layers' tar headers alone (bodies are skipped, nothing is written to disk):
 * what diff, extract and the layer view stand on. The image stays open (for a second, selective read of
 * bodies) until the caller closes `image`.
 */
export async function imageTree(ref: ImageReference, options: ImageTreeOptions = {}): Promise<ImageTree> {
  const image = await openImage(ref, options);
  try {
    const tree = new FileTree();
    for (let index = 0; index < image.layers.length; index++) {
      const entries: LayerEntry[] = [];
      await readLayer(image, index, async (it) => {
        for await (const { entry } of it) entries.push(entry);
      }, options);
      options.beforeLayer?.(index, entries, tree, image);
      tree.applyLayer(entries, whiteoutOf);
    }
    return { tree, image };
  } catch (err) {
    await image.close();
    throw err;
  }
}
