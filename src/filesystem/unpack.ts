import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Unpacker, type UnpackStats } from '../layer/unpack.js';
import { whiteoutOf } from '../layer/whiteout.js';
import type { ImageReference } from '../transports/types.js';
import { runtimeConfig } from './bundle.js';
import { openImage, type OpenImageOptions, type OpenedImage } from './image-layers.js';
import { readLayer } from './image-tree.js';
import { mustBeFreshTarget, removeLeftovers, stagingPath } from './staged-target.js';

export interface UnpackImageOptions extends OpenImageOptions {
  /** Write an OCI runtime bundle: DIR/rootfs and DIR/config.json (what `runc run -b DIR` starts). */
  bundle?: boolean;
  /**
   * Whether this process runs as root: then owners are applied, otherwise recorded in user.rootlesscontainers
   * (as umoci --rootless), and security.* and trusted.* extended attributes are skipped.
   */
  isRoot?: boolean;
  /** The setfattr program that sets extended attributes (default `setfattr` on PATH; the attr package). */
  setfattr?: string;
  onWarning?: (message: string) => void;
  /** Called as each layer starts, for progress. */
  onLayer?: (index: number, count: number, digest: string, size: number) => void;
}

export interface UnpackResult extends UnpackStats {
  layers: number;
  rootfs: string;
}

/**
 * Unpack an image's root filesystem into `target` (or an OCI runtime bundle with `bundle`). Everything is
 * written into a hidden sibling folder first and renamed into place at the end, so an interrupted or failed
 * unpack leaves `target` as it was, and the next run can replace what it left (nothing but a `.wharf-unpack-*`
 * folder, which it removes). Each layer is verified as it streams: its blob digest, and its uncompressed digest
 * against the config's diff_ids.
 */
export async function unpackImage(ref: ImageReference, target: string, options: UnpackImageOptions = {}): Promise<UnpackResult> {
  await mustBeFreshTarget(target, 'unpack into a new or empty directory (remove the old one first to replace it)');
  await removeLeftovers(target, 'unpack');
  const staging = stagingPath(target, 'unpack');
  const rootfs = options.bundle ? join(staging, 'rootfs') : staging;
  await fsp.mkdir(rootfs, { recursive: true });
  let image: OpenedImage | undefined;
  try {
    image = await openImage(ref, options);
    // Extended attributes from the layers, and rootless the owners in user.rootlesscontainers (as umoci).
    const unpackerOptions: ConstructorParameters<typeof Unpacker>[2] = { isRoot: options.isRoot === true, xattrs: true };
    if (options.onWarning) unpackerOptions.onWarning = options.onWarning;
    if (options.signal) unpackerOptions.signal = options.signal;
    if (options.setfattr) unpackerOptions.setfattr = options.setfattr;
    const unpacker = new Unpacker(rootfs, whiteoutOf, unpackerOptions);
    for (let i = 0; i < image.layers.length; i++) {
      const d = image.layers[i]!;
      options.onLayer?.(i, image.layers.length, d.digest, d.size);
      await applyLayer(image, i, unpacker, options);
    }
    await unpacker.finish();
    if (options.bundle) {
      const config = await runtimeConfig(image.config, rootfs, { rootless: options.isRoot !== true });
      await fsp.writeFile(join(staging, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    }
    await fsp.rmdir(target).catch(() => {}); // an empty folder the user made for it
    await fsp.rename(staging, target);
    return { ...unpacker.stats, layers: image.layers.length, rootfs: options.bundle ? join(target, 'rootfs') : target };
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => {});
    throw err;
  } finally {
    await image?.close();
  }
}

async function applyLayer(image: OpenedImage, i: number, unpacker: Unpacker, options: UnpackImageOptions): Promise<void> {
  await readLayer(image, i, (entries) => unpacker.applyLayer(entries), options);
}
