import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/**
 * A snapshot of everything under a path (names, types, sizes, content hashes), or `absent`. Two equal
 * snapshots mean the path was left exactly as it was.
 */
export async function snapshot(path: string): Promise<string> {
  const out: string[] = [];
  const walk = async (p: string, rel: string): Promise<void> => {
    let st;
    try {
      st = await fsp.lstat(p);
    } catch {
      out.push(`${rel} absent`);
      return;
    }
    if (st.isDirectory()) {
      out.push(`${rel}/ dir`);
      for (const name of (await fsp.readdir(p)).sort()) await walk(join(p, name), `${rel}/${name}`);
    } else if (st.isFile()) {
      const hash = createHash('sha256').update(await fsp.readFile(p)).digest('hex');
      out.push(`${rel} file ${st.size} ${hash}`);
    } else {
      out.push(`${rel} other`);
    }
  };
  await walk(path, '.');
  return out.join('\n');
}
