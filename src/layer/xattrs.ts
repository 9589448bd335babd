import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LayerEntry } from './types.js';

/**
 * Extended attributes for an unpacked tree. Node has no xattr syscalls, so the unpacker collects what each path
 * should carry while it writes ({@link XattrCollector}) and sets all of it at the end with one `setfattr -h
 * --restore=-` process ({@link applyXattrs}), fed the text format `getfattr -d` prints.
 *
 * Rootless (owners not applied), each owner other than 0:0 is recorded instead, as umoci --rootless does and
 * https://github.com/rootless-containers/proto specifies: the `user.rootlesscontainers` xattr holds the protobuf
 * `message Resource { uint32 uid = 1; uint32 gid = 2; }`, a 0 uid or gid written as (uint32)-1 ("unchanged",
 * which in a rootless container means the unpacking user, root inside it).
 */

export const ROOTLESS_XATTR = 'user.rootlesscontainers';
/** rootlesscontainers.proto's NoopID: keep this id unchanged (`(uint32_t) -1`, as for chown(2)). */
export const NOOP_ID = 0xffffffff;

/** Host-specific attributes never taken from an image (umoci's ignoreXattrs). */
const HOST_ONLY = new Set(['security.selinux', 'system.nfs4_acl']);

/** What one path gets. */
export interface XattrTarget {
  /** Relative to the root, `/`-separated, no `.` or `..` components; `''` is the root itself. */
  path: string;
  attrs: ReadonlyArray<readonly [name: string, value: Buffer]>;
  /**
   * A regular file's mode when it lacks the owner's write bit. Setting a user.* xattr needs write permission,
   * so unprivileged the file is made writable for the moment and given this mode back.
   */
  readOnlyMode?: number;
}

/** Attributes left out: counted (`count`, default 1) and warned about once per `cause`. */
export type XattrSkip = (cause: string, message: string, count?: number) => void;

export interface XattrCollectorOptions {
  /** Record owners other than 0:0 in user.rootlesscontainers (when they are not applied with chown). */
  recordOwners: boolean;
  /** Whether security.* and trusted.* can be set (root). Otherwise they are skipped, as umoci --rootless does. */
  privileged: boolean;
  skip: XattrSkip;
}

/**
 * The extended attributes each path of the tree should end with, keyed by the unpacker's resolved path: an
 * entry's set replaces what an earlier entry gave the same path, a removal drops the path and everything below
 * it, a hard link takes its target's set (the same inode).
 */
export class XattrCollector {
  private readonly byPath = new Map<string, XattrTarget>();
  /** One buffer per owner: a rootless tree of a thousand files owned by 1000:1000 holds one. */
  private readonly owners = new Map<string, Buffer>();

  constructor(private readonly options: XattrCollectorOptions) {}

  get size(): number {
    return this.byPath.size;
  }

  /** `entry` (a file, directory or symlink) is now at `path`. */
  set(path: string, entry: LayerEntry): void {
    const { skip, privileged, recordOwners } = this.options;
    if (!entry.xattrs && (!recordOwners || (entry.uid === 0 && entry.gid === 0))) {
      this.byPath.delete(path); // the common case, kept cheap
      return;
    }
    const attrs: Array<readonly [string, Buffer]> = [];
    for (const [name, value] of Object.entries(entry.xattrs ?? {})) {
      if (name.includes('\0')) skip('xattr-name', `${entry.path}: an extended attribute whose name holds a NUL byte is not set`);
      else if (HOST_ONLY.has(name)) skip('xattr-host', `${entry.path}: ${name} is host-specific and not taken from the image (as umoci)`);
      else if (recordOwners && name === ROOTLESS_XATTR) {
        skip('xattr-rootless-layer', `${entry.path}: the layer's own ${ROOTLESS_XATTR} is ignored; the owner is recorded from the tar header (as umoci --rootless)`);
      } else if (!privileged && (name.startsWith('security.') || name.startsWith('trusted.'))) {
        skip('xattr-privileged', `${entry.path}: ${name} is not set: security.* and trusted.* extended attributes need root (rootless unpack, as umoci)`);
      } else if (entry.type === 'symlink' && name.startsWith('user.')) {
        skip('xattr-symlink', `${entry.path}: ${name} is not set: Linux allows user.* extended attributes on files and directories only`);
      } else attrs.push([name, value]);
    }
    if (recordOwners && (entry.uid !== 0 || entry.gid !== 0)) {
      const owner = this.owner(entry.uid, entry.gid);
      if (entry.type === 'symlink') {
        skip('xattr-symlink-owner', `${entry.path}: the owner ${entry.uid}:${entry.gid} of a symlink is not recorded: Linux allows ${ROOTLESS_XATTR} on files and directories only (umoci drops it too)`);
      } else if (!owner) {
        skip('xattr-owner-range', `${entry.path}: the owner ${entry.uid}:${entry.gid} does not fit ${ROOTLESS_XATTR} (32-bit ids) and is not recorded`);
      } else attrs.push([ROOTLESS_XATTR, owner]);
    }
    if (attrs.length === 0) {
      this.byPath.delete(path);
      return;
    }
    const target: XattrTarget = { path, attrs };
    if (entry.type === 'file' && (entry.mode & 0o200) === 0) target.readOnlyMode = entry.mode & 0o7777;
    this.byPath.set(path, target);
  }

  /** A hard link at `path` to `target`: what target has now (a later entry at target is a new inode). */
  link(path: string, target: string): void {
    const of = this.byPath.get(target);
    if (of) this.byPath.set(path, { ...of, path });
    else this.byPath.delete(path);
  }

  /** `path` and everything below it are gone. */
  remove(path: string): void {
    this.byPath.delete(path);
    const prefix = `${path}/`;
    for (const p of this.byPath.keys()) if (p.startsWith(prefix)) this.byPath.delete(p);
  }

  targets(): XattrTarget[] {
    return [...this.byPath.values()];
  }

  private owner(uid: number, gid: number): Buffer | undefined {
    const key = `${uid}:${gid}`;
    let value = this.owners.get(key);
    if (!value) {
      value = encodeRootlessResource(uid === 0 ? NOOP_ID : uid, gid === 0 ? NOOP_ID : gid);
      if (!value) return undefined;
      this.owners.set(key, value);
    }
    return value;
  }
}

/**
 * rootlesscontainers.proto's `Resource { uint32 uid = 1; uint32 gid = 2; }` in protobuf wire format (proto3: a
 * zero field is left out). Undefined when an id is not a uint32.
 */
export function encodeRootlessResource(uid: number, gid: number): Buffer | undefined {
  const out: number[] = [];
  for (const [field, value] of [[1, uid], [2, gid]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) return undefined;
    if (value === 0) continue;
    out.push(field << 3); // wire type 0: varint
    let n = value;
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
  }
  return Buffer.from(out);
}

export interface ApplyXattrsOptions {
  /** Root (security.* and trusted.* are expected to work, nothing needs to be made writable first). */
  privileged: boolean;
  skip: XattrSkip;
  /** The setfattr program (default `setfattr`, from the attr package, on PATH). */
  setfattr?: string;
  signal?: AbortSignal;
}

/**
 * Set every target's attributes under `root` with one `setfattr -h --restore=-` run in `root` (relative paths,
 * symlinks never followed). Call it before read-only directory modes are applied. Never fails the caller for
 * what it cannot set: a missing setfattr, a filesystem that refuses (ENOTSUP), a path that is not a plain path
 * through directories inside the root: each is one warning, and counted. Returns how many attributes were set.
 */
export async function applyXattrs(root: string, targets: readonly XattrTarget[], options: ApplyXattrsOptions): Promise<number> {
  const { skip } = options;
  const safe: XattrTarget[] = [];
  const dirs = new Map<string, Promise<boolean>>([['', Promise.resolve(true)]]);
  const isDir = (dir: string): Promise<boolean> => {
    let known = dirs.get(dir);
    if (!known) {
      const parent = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '';
      known = isDir(parent).then(async (ok) => ok && ((await fsp.lstat(join(root, dir)).catch(() => undefined))?.isDirectory() ?? false));
      dirs.set(dir, known);
    }
    return known;
  };
  for (const t of targets) {
    const plain = t.path === '' || (!t.path.includes('\0') && t.path.split('/').every((p) => p !== '' && p !== '.' && p !== '..'));
    // The unpacker only hands over paths it resolved through directories it made; checked again, cheaply.
    if (plain && (t.path === '' || (await isDir(t.path.includes('/') ? t.path.slice(0, t.path.lastIndexOf('/')) : '')))) safe.push(t);
    else skip('xattr-path', `${JSON.stringify(t.path)}: not a path through directories inside the root; its extended attributes are not set`, t.attrs.length);
  }
  const total = safe.reduce((n, t) => n + t.attrs.length, 0);
  if (total === 0) return 0;

  const restore: Array<[string, number]> = [];
  try {
    if (!options.privileged) {
      for (const t of safe) {
        if (t.readOnlyMode === undefined) continue;
        const abs = join(root, t.path);
        if (!(await fsp.lstat(abs).catch(() => undefined))?.isFile()) continue;
        await fsp.chmod(abs, t.readOnlyMode | 0o200);
        restore.push([abs, t.readOnlyMode]);
      }
    }
    const run = await runSetfattr(options.setfattr ?? 'setfattr', root, restoreText(safe), options.signal);
    if (run.missing) {
      skip('xattr-setfattr', `${total} extended attribute${total === 1 ? ' is' : 's are'} not set: setfattr was not found (install the attr package: apt-get install -y attr)`, total);
      return 0;
    }
    if (run.code === 0) return total;
    const failed = Math.min(total, Math.max(1, run.errorLines));
    skip('xattr-refused', `${failed} of ${total} extended attributes could not be set (${run.firstError || `setfattr exited with ${run.code}`})`, failed);
    return total - failed;
  } finally {
    for (const [abs, mode] of restore) await fsp.chmod(abs, mode).catch(() => {});
  }
}

/**
 * getfattr's dump format, as setfattr --restore reads it: `# file: PATH`, `NAME=0xHEX` lines, a blank line.
 * Paths and names are escaped as `\ooo` (setfattr unquotes any octal escape) for every byte that is not
 * printable ASCII, and for space, `\` and `=`: nothing in them can end a line, start a record or split a name.
 */
function* restoreText(targets: readonly XattrTarget[]): Generator<string> {
  let chunk = '';
  for (const t of targets) {
    chunk += `# file: ${t.path === '' ? '.' : quote(t.path)}\n`;
    for (const [name, value] of t.attrs) chunk += `${quote(name)}=0x${value.toString('hex')}\n`;
    chunk += '\n';
    if (chunk.length >= 1 << 16) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

export function quote(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

interface SetfattrRun {
  missing: boolean;
  code: number | null;
  /** setfattr prints one line per attribute it could not set. */
  errorLines: number;
  firstError: string;
}

function runSetfattr(command: string, cwd: string, input: Iterable<string>, signal: AbortSignal | undefined): Promise<SetfattrRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-h', '--restore=-'], { cwd, stdio: ['pipe', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let settled = false;
    let errorLines = 0;
    let firstError = '';
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      partial += text;
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        if (!line) continue;
        errorLines++;
        if (!firstError) firstError = line.slice(0, 300);
      }
      if (partial.length > 4096) partial = partial.slice(-4096);
    });
    // setfattr exiting early closes its stdin under the writer (EPIPE): its exit status and stderr say why.
    pipeline(Readable.from(input), child.stdin).catch(() => {});
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      if (err.code === 'ENOENT') resolve({ missing: true, code: null, errorLines: 0, firstError: '' });
      else reject(err);
    });
    child.on('close', (code) => {
      if (settled) return;
      settled = true;
      if (partial.trim()) {
        errorLines++;
        firstError ||= partial.trim().slice(0, 300);
      }
      resolve({ missing: false, code, errorLines, firstError });
    });
  });
}
