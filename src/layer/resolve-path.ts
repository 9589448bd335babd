import { WharfError } from '../errors.js';

/** Symlinks followed at most, as Linux's MAXSYMLINKS. */
const MAX_HOPS = 40;

/**
 * `path` (relative, `/`-separated) with every symlink among its parent directories replaced by its target,
 * resolved inside a root as a chroot would: an absolute target starts at the root, `..` stops there, so no path
 * ever leaves it. With `whole`, the last component is resolved too. `symlinkAt` says what a path is: the target
 * of a symlink there, or undefined. Loops and very long chains are LAYER_INVALID.
 *
 * The one implementation for the image's file tree (what the headers say) and the unpacker (what it wrote):
 * both must agree on where a path lands, or a layer could write through a link one of them did not see.
 */
export function resolveInRoot(path: string, whole: boolean, symlinkAt: (path: string) => string | undefined): string {
  if (path === '') return path;
  let parts = path.split('/');
  let hops = 0;
  const out: string[] = [];
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      out.pop();
      continue;
    }
    out.push(part);
    if (parts.length === 0 && !whole) break;
    const target = symlinkAt(out.join('/'));
    if (target === undefined) continue;
    if (++hops > MAX_HOPS) throw new WharfError('LAYER_INVALID', `${path.slice(0, 120)}: too many levels of symbolic links`);
    out.pop();
    if (target.startsWith('/')) out.length = 0;
    parts = [...target.split('/'), ...parts];
  }
  return out.join('/');
}
