/**
 * File helpers for config/: reading small files with a size cap, and writing them atomically with the
 * permissions credentials need. (config/ may import only errors.ts, so these do not come from util/.)
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WharfError, asWharfError } from '../errors.js';

/** The largest configuration file we read into memory (auth.json, registries.conf, a certificate). */
export const MAX_CONFIG_FILE_SIZE = 1 << 20;

/**
 * Read a whole file, refusing anything larger than `max` bytes. Returns undefined if the file does not exist;
 * `what` names the file's role in messages ("auth file", "registries.conf").
 */
export async function readCapped(path: string, what: string, max = MAX_CONFIG_FILE_SIZE): Promise<Buffer | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return undefined;
    throw asWharfError(err, 'IO_ERROR', `reading ${what} ${path}`);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) {
      throw new WharfError('IO_ERROR', `${what} ${path} is a directory, not a file`, {
        hint: `point wharf at the file itself`,
      });
    }
    if (!st.isFile()) {
      throw new WharfError('IO_ERROR', `${what} ${path} is not a regular file`, {
        hint: 'configuration must be read from a regular file',
      });
    }
    if (st.size > max) throw tooLarge(path, what, max);
    // Read up to max+1 bytes: the file may have grown since stat.
    const buf = Buffer.alloc(Math.min(st.size, max) + 1);
    let off = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
      if (off === buf.length) {
        if (off > max) throw tooLarge(path, what, max);
        break;
      }
    }
    return buf.subarray(0, off);
  } catch (err) {
    throw asWharfError(err, 'IO_ERROR', `reading ${what} ${path}`);
  } finally {
    await fh.close().catch(() => {});
  }
}

function tooLarge(path: string, what: string, max: number): WharfError {
  return new WharfError('TOO_LARGE', `${what} ${path} is larger than ${max} bytes`, {
    hint: 'this is not a configuration file wharf can use; check the path, or trim the file',
  });
}

/** Does a path exist (following symlinks)? Permission errors count as "no", like the containers tools do. */
export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Write `data` to `path` atomically: a temp file beside it (mode `mode`), fsync, rename, fsync of the
 * directory. Missing parent directories are created with `dirMode`. Readers see the old file or the new one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number, dirMode: number): Promise<void> {
  const dir = dirname(path);
  try {
    await fsp.mkdir(dir, { recursive: true, mode: dirMode });
  } catch (err) {
    throw asWharfError(err, 'IO_ERROR', `creating ${dir}`);
  }
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', mode);
    // The umask may have narrowed `mode`, never widened it; chmod makes it exact (0600 stays 0600).
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw asWharfError(err, 'IO_ERROR', `writing ${path}`);
  }
  // Make the rename itself durable. Some filesystems refuse fsync on a directory; that is not an error here.
  try {
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}
