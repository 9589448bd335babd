/**
 * `docker history` for any transport: the steps that built an image, read from its manifest and config only.
 * No layer is ever fetched (so sizes are the stored, compressed sizes the manifest gives; see ImageHistoryEntry.size).
 */
import { digestOf, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';
import { parseConfig, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { manifestDigest } from '../oci/manifest-digest.js';
import { MediaType } from '../oci/media-types.js';
import { chooseInstance, hostPlatform } from '../oci/platform.js';
import type { Descriptor, ImageConfig, Platform, Schema1Manifest } from '../oci/types.js';
import { readSmallBlob } from '../transports/read-small.js';
import type { Context, ImageReference, ImageSource, Logger } from '../transports/types.js';
import type { HistoryLayer, ImageHistoryEntry } from './types.js';

export interface HistoryOptions extends Context {
  /** Which image of an index to describe; default: the host's platform, as inspect does. */
  platform?: Platform;
}

/** The history of the image at `ref`, newest entry first. */
export async function imageHistory(ref: ImageReference, options: HistoryOptions = {}): Promise<ImageHistoryEntry[]> {
  const source = await ref.newSource(options);
  try {
    return await historyOfSource(source, options);
  } finally {
    await source.close();
  }
}

/** The history of the image an open source holds (for an index: of the platform chosen as inspect chooses it). */
export async function historyOfSource(source: ImageSource, options: HistoryOptions = {}): Promise<ImageHistoryEntry[]> {
  const image = await chooseImage(source, options);
  const id = manifestDigest(image.bytes);
  const where = `${source.reference}`;
  let oldestFirst: ImageHistoryEntry[];
  if (image.kind === 'schema1') {
    oldestFirst = schema1History(image.manifest, where, options.logger);
  } else if (image.kind === 'image') {
    const bytes = await readSmallBlob(source, image.manifest.config, options.signal);
    const config = parseConfig(bytes, `config ${image.manifest.config.digest} of ${where}`);
    oldestFirst = alignHistory(config, image.manifest.layers, where, options.logger);
  } else {
    throw new WharfError('UNSUPPORTED', 'nested indexes are not supported by history');
  }
  const newestFirst = oldestFirst.reverse();
  if (newestFirst[0]) newestFirst[0] = { id, ...newestFirst[0] };
  return newestFirst;
}

/** The image manifest the reference names, or the one of the wanted platform when it names an index. */
async function chooseImage(source: ImageSource, options: HistoryOptions): Promise<ParsedManifest> {
  const top = await source.getManifest(undefined, options.signal);
  const parsed = parseManifest(top.bytes, top.mediaType || undefined, `manifest of ${source.reference}`);
  if (parsed.kind !== 'index') return parsed;
  const chosen = chooseInstance(parsed.manifest, options.platform ?? hostPlatform());
  const child = await source.getManifest(chosen.digest, options.signal);
  const actual = digestOf(child.bytes);
  if (actual !== chosen.digest) {
    throw new WharfError('DIGEST_MISMATCH', `manifest ${chosen.digest} of ${source.reference} has digest ${actual}`, {
      hint: 'the source is corrupt or was modified',
    });
  }
  const image = parseManifest(child.bytes, chosen.mediaType, `manifest ${chosen.digest} of ${source.reference}`);
  if (image.kind === 'index') throw new WharfError('UNSUPPORTED', 'nested indexes are not supported by history');
  return image;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function layerOf(desc: Descriptor, index: number, diffIds: readonly unknown[]): HistoryLayer {
  const layer: HistoryLayer = { index, digest: desc.digest, mediaType: desc.mediaType, size: desc.size };
  const diffId = diffIds[index];
  if (typeof diffId === 'string') layer.diffId = diffId as Digest;
  return layer;
}

/**
 * Pair the config's history with the manifest's layers, oldest first, the way docker does: every entry that is
 * not `empty_layer` made the next layer. What docker refuses (more non-empty entries than layers) or leaves out
 * (layers past the last non-empty entry) is shown as far as it can be, with a warning.
 */
export function alignHistory(config: ImageConfig, layers: readonly Descriptor[], where: string, logger?: Logger): ImageHistoryEntry[] {
  const rawDiffIds = (config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  const diffIds: readonly unknown[] = Array.isArray(rawDiffIds) ? rawDiffIds : [];
  if (diffIds.length !== layers.length) {
    logger?.warn(`${where}: the config lists ${diffIds.length} diff_ids but the manifest has ${layers.length} layers`);
  }
  const raw = config.history as unknown;
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) {
    logger?.warn(`${where}: the config's history is not a list; showing one entry per layer`);
  }
  const items = Array.isArray(raw) ? raw : [];
  if (items.length === 0) {
    return layers.map((d, i) => synthetic(layerOf(d, i, diffIds)));
  }

  const out: ImageHistoryEntry[] = [];
  let next = 0;
  let unmatched = 0;
  for (const item of items) {
    const h = item && typeof item === 'object' ? (item as Record<string, unknown>) : {};
    const emptyLayer = h.empty_layer === true;
    let layer: HistoryLayer | undefined;
    if (!emptyLayer) {
      if (next < layers.length) layer = layerOf(layers[next]!, next++, diffIds);
      else unmatched++;
    }
    out.push(makeEntry({ created: str(h.created), createdBy: str(h.created_by), author: str(h.author), comment: str(h.comment), emptyLayer, layer }));
  }
  if (unmatched > 0) {
    logger?.warn(
      `${where}: the config's history has ${next + unmatched} entries that made a layer but the manifest has ${layers.length} layers; ` +
        `the newest ${unmatched} ${unmatched === 1 ? 'is' : 'are'} shown without a layer or size`,
    );
  }
  if (next < layers.length) {
    const extra = layers.length - next;
    logger?.warn(
      `${where}: the manifest has ${layers.length} layers but the config's history describes only ${next}; ` +
        (extra === 1 ? 'the top layer is shown as a <missing> entry' : `the top ${extra} layers are shown as <missing> entries`),
    );
    for (let i = next; i < layers.length; i++) out.push(synthetic(layerOf(layers[i]!, i, diffIds)));
  }
  return out;
}

function synthetic(layer: HistoryLayer): ImageHistoryEntry {
  return makeEntry({ emptyLayer: false, layer, synthetic: true });
}

interface EntryFields {
  created?: string | undefined;
  createdBy?: string | undefined;
  author?: string | undefined;
  comment?: string | undefined;
  emptyLayer: boolean;
  layer?: HistoryLayer | undefined;
  synthetic?: true;
}

/** An entry with its fields always in the same order (JSON output) and without undefined ones. */
function makeEntry(f: EntryFields): ImageHistoryEntry {
  const e: Partial<ImageHistoryEntry> = {};
  if (f.created !== undefined) e.created = f.created;
  if (f.createdBy !== undefined) e.createdBy = f.createdBy;
  if (f.author !== undefined) e.author = f.author;
  if (f.comment !== undefined) e.comment = f.comment;
  e.emptyLayer = f.emptyLayer;
  const size = f.emptyLayer ? 0 : f.layer && f.layer.size >= 0 ? f.layer.size : undefined;
  if (size !== undefined) e.size = size;
  if (f.layer) e.layer = f.layer;
  if (f.synthetic) e.synthetic = true;
  return e as ImageHistoryEntry;
}

/**
 * Schema 1 carries its history in the manifest: history[i].v1Compatibility describes the step that made
 * fsLayers[i], newest first. What docker took from it when it converted such images: created, author, comment,
 * container_config.Cmd joined by spaces as created-by, and `throwaway` as empty_layer. Sizes are not in the
 * manifest.
 */
export function schema1History(m: Schema1Manifest, where: string, logger?: Logger): ImageHistoryEntry[] {
  const out: ImageHistoryEntry[] = [];
  let index = 0;
  let unreadable = 0;
  for (let i = m.history.length - 1; i >= 0; i--) {
    let v1: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(m.history[i]!.v1Compatibility);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) v1 = parsed as Record<string, unknown>;
      else unreadable++;
    } catch {
      unreadable++;
    }
    const emptyLayer = v1.throwaway === true;
    const cc = v1.container_config;
    const cmd = cc && typeof cc === 'object' ? (cc as { Cmd?: unknown }).Cmd : undefined;
    const layer = emptyLayer ? undefined : { index: index++, digest: m.fsLayers[i]!.blobSum, mediaType: MediaType.DockerLayerGzip, size: -1 };
    out.push(
      makeEntry({
        created: str(v1.created),
        createdBy: Array.isArray(cmd) ? cmd.map((w) => (typeof w === 'string' ? w : JSON.stringify(w))).join(' ') : undefined,
        author: str(v1.author),
        comment: str(v1.comment),
        emptyLayer,
        layer,
      }),
    );
  }
  if (unreadable > 0) {
    logger?.warn(`${where}: ${unreadable} schema 1 history entr${unreadable === 1 ? 'y is' : 'ies are'} not a JSON object; shown without details`);
  }
  return out;
}
