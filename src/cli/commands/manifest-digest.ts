import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import type { Command } from '../types.js';

/** Manifests are small; anything bigger than this is not one. */
export const MAX_MANIFEST_FILE = 16 << 20;

async function readSmallFile(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    if (size > MAX_MANIFEST_FILE) {
      throw new WharfError('TOO_LARGE', `${path} is ${size} bytes, too large to be a manifest`, { hint: `manifests are at most ${MAX_MANIFEST_FILE >> 20} MiB` });
    }
    return await handle.readFile();
  } catch (err) {
    if (err instanceof WharfError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new WharfError('IO_ERROR', `cannot read ${path}: ${why}`, { cause: err, hint: 'give the path of a manifest file, e.g. DIR/manifest.json of a dir: image' });
  } finally {
    await handle?.close();
  }
}

export const manifestDigestCommand: Command = {
  name: 'manifest-digest',
  summary: 'Print the digest of a manifest file',
  usage: 'FILE',
  description: `
Print the digest of the manifest in FILE, as 'skopeo manifest-digest' does: the sha256 of the file's bytes,
except for a signed Docker schema 1 manifest, whose digest is that of its payload without the signatures.`,
  flags: [],
  operands: { min: 1, max: 1, names: 'FILE' },
  takesReferences: false,
  examples: ['wharf manifest-digest ./image/manifest.json', 'wharf manifest-digest layout/blobs/sha256/54ca99d283eb…'],
  async run(ctx) {
    const path = resolve(ctx.io.cwd, ctx.args.operands[0]!);
    const bytes = await readSmallFile(path);
    ctx.io.stdout.write(ctx.lib.manifestDigest(bytes) + '\n');
    return 0;
  },
};
