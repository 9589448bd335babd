/**
 * OCI whiteouts (image-spec layer.md, "Whiteouts"), recognised from an entry's path:
 *
 * - `DIR/.wh..wh..opq` — an opaque whiteout: everything the lower layers put in DIR is hidden (DIR itself stays);
 * - `DIR/.wh.NAME` — DIR/NAME from the lower layers is removed, with everything below it;
 * - `.wh..wh.plnk`, `.wh..wh.aufs` (any `.wh..wh.*` other than the opaque marker) — AUFS bookkeeping that old
 *   Docker layers carry: neither content nor a whiteout, and so is everything under such a directory.
 *
 * A name is a whiteout whatever the entry's type: the spec says whiteouts are empty files, but readers (Docker,
 * containerd, umoci) go by the name alone, and so do we, so that no layer means one thing here and another there.
 * The marker itself never becomes part of the image.
 */
import { WharfError } from '../errors.js';
import type { LayerEntry, Whiteout } from './types.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** Names starting with this are AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`), except the opaque marker. */
export const AUFS_META_PREFIX = '.wh..wh.';

/** Whether a name (or the last component of a path) is reserved by the whiteout convention: it starts with `.wh.`. */
export function isWhiteoutName(name: string): boolean {
  const slash = name.lastIndexOf('/', name.length - 2);
  const base = name.slice(slash + 1).replace(/\/+$/, '');
  return base.startsWith(WHITEOUT_PREFIX);
}

/**
 * What an entry (its `path` normalised as LayerEntry says) means as a whiteout: a file whiteout, an opaque
 * whiteout, AUFS metadata to ignore, or undefined for an ordinary entry. `.wh.` with an empty name, `.wh..` and
 * `.wh...` (which would remove the directory itself or its parent) are LAYER_INVALID.
 */
export function whiteoutOf(entry: LayerEntry): Whiteout | undefined {
  const path = entry.path;
  if (!path.includes(WHITEOUT_PREFIX)) return undefined; // the common case, decided without splitting
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (dir.split('/').some((c) => c.startsWith(AUFS_META_PREFIX))) return { kind: 'aufs' };
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir };
  if (base.startsWith(AUFS_META_PREFIX)) return { kind: 'aufs' };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw new WharfError('LAYER_INVALID', `whiteout "${path}" names ${name === '' ? 'nothing' : `"${name}"`}`, {
      hint: 'a whiteout is ".wh." followed by the name of the file it removes; the layer is corrupt or hostile',
    });
  }
  return { kind: 'file', target: dir ? `${dir}/${name}` : name };
}
