/** Files of a directory tree as the cataloguer takes them: regular files only (symlinks are what tar entries are). */
import { promises as fsp } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { CatalogFile } from '../../src/scan/catalog/index.js';

export async function regularFiles(root: string, keep: (path: string) => boolean = () => true): Promise<CatalogFile[]> {
  const out: CatalogFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile()) {
        const rel = relative(root, p).split(sep).join('/');
        if (keep(rel)) out.push({ path: rel, data: await fsp.readFile(p) });
      }
    }
  };
  await walk(root);
  return out;
}

/** Collect warnings into an array. */
export function warnings(): { list: string[]; on: (m: string) => void } {
  const list: string[] = [];
  return { list, on: (m) => list.push(m) };
}
