import * as fs from 'node:fs';
import { constants as fsc, createWriteStream, promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { LayerEntry, LayerEntryWithBody, Whiteout } from './types.js';
import { readEntryBody } from './entry-body.js';
import { resolveInRoot } from './resolve-path.js';
import { applyXattrs, XattrCollector } from './xattrs.js';

export interface UnpackOptions {
  /** Apply uid/gid (needs root). Default: only when running as root (`isRoot`). */
  applyOwnership?: boolean;
  /** Whether this process is root (the caller knows; default false). */
  isRoot?: boolean;
  /** The process's umask (default 0o022): modes it would cut are set again after creation. */
  umask?: number;
  /**
   * Set extended attributes (see xattrs.ts): the layers' SCHILY.xattr.* records and, when owners are not
   * applied, each owner other than 0:0 as user.rootlesscontainers (as umoci --rootless). All at once in
   * finish(), with setfattr. Default false: they are skipped with a warning.
   */
  xattrs?: boolean;
  /** The setfattr program for `xattrs` (default `setfattr` on PATH; the attr package). */
  setfattr?: string;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

export interface UnpackStats {
  entries: number;
  files: number;
  bytes: number;
  /**
   * Entries left out, by reason (`device`, `fifo`, `hardlink-outside`, …); `xattr` counts extended attributes
   * not set (all of them without the `xattrs` option; with it those refused, or set nowhere because setfattr is
   * missing).
   */
  skipped: Record<string, number>;
  /** Extended attributes set (with the `xattrs` option), user.rootlesscontainers included. */
  xattrs?: number;
}

type Classify = (e: LayerEntry) => Whiteout | { kind: 'aufs' } | undefined;

/**
 * Applies layers, one after another, to a directory that only this unpacker writes to — the OCI rules of
 * image-spec layer.md on a real filesystem, streaming (a file's bytes go from the layer to its file; no layer is
 * held in memory), and without ever writing outside the root:
 *
 * - every path is resolved component by component inside the root: a symlink among the parents is followed as
 *   a chroot would (so `lib -> usr/lib` works and `evil -> /etc` lands in ROOT/etc), the last component is never
 *   followed (files are opened O_NOFOLLOW after whatever was there is removed);
 * - hard links must point at a regular file already inside the root;
 * - devices and fifos are skipped with a warning (Node cannot create them);
 * - whiteouts remove only what lower layers made: the paths this layer wrote are remembered until it ends;
 * - owners are applied when root (`applyOwnership`); otherwise, with `xattrs`, recorded in
 *   user.rootlesscontainers as umoci --rootless does;
 * - extended attributes (with `xattrs`; Node has no syscalls for them) are collected by resolved path as the
 *   entries go (a later entry replaces a path's set, a removal drops it, a hard link shares its target's) and
 *   set in finish() by one setfattr process, never through a symlink; rootless, security.* and trusted.* are
 *   skipped with a warning, and whatever the tool or the filesystem refuses is a warning, not a failure;
 * - directory modes and times are applied last, deepest first (after the xattrs), so a read-only directory does
 *   not stop its own children from being written.
 */
export class Unpacker {
  private readonly dirMeta = new Map<string, LayerEntry>();
  /**
   * What is on disk below the root, as this unpacker made it (it is the only writer, into a folder that started
   * empty): a directory, a symlink (with its target) or anything else. Paths resolve against this, not lstat.
   */
  private readonly present = new Map<string, { kind: 'dir' } | { kind: 'symlink'; target: string } | { kind: 'other' }>([['', { kind: 'dir' }]]);
  /** File writes in flight, by path: entries go on being read while small files are written. */
  private readonly pending = new Map<string, Promise<void>>();
  private writtenThisLayer = new Set<string>();
  /** Every parent of a path in writtenThisLayer: directories that hold something this layer wrote. */
  private holdingThisLayer = new Set<string>();
  readonly stats: UnpackStats = { entries: 0, files: 0, bytes: 0, skipped: {} };
  private readonly applyOwnership: boolean;
  private readonly umask: number;
  private readonly xattrs: XattrCollector | undefined;
  /** Warnings given, by cause: one each. */
  private readonly warned = new Set<string>();
  private firstError: unknown;

  constructor(
    readonly root: string,
    private readonly classify: Classify,
    private readonly options: UnpackOptions = {},
  ) {
    this.applyOwnership = options.applyOwnership ?? options.isRoot === true;
    this.umask = options.umask ?? 0o022;
    if (options.xattrs) {
      this.xattrs = new XattrCollector({
        recordOwners: !this.applyOwnership,
        privileged: options.isRoot === true,
        skip: (cause, message, count) => this.skip('xattr', message, cause, count),
      });
      this.stats.xattrs = 0;
    }
  }

  /** Apply one layer's entries, in tar order. */
  async applyLayer(entries: AsyncIterable<LayerEntryWithBody>): Promise<void> {
    this.writtenThisLayer = new Set();
    this.holdingThisLayer = new Set();
    try {
      for await (const { entry, body } of entries) {
        this.options.signal?.throwIfAborted();
        if (this.firstError) throw this.firstError;
        this.stats.entries++;
        try {
          await this.apply(entry, body);
        } finally {
          body?.resume(); // whatever was not consumed is drained, so the reader can go on
        }
      }
    } finally {
      await this.drain();
    }
    if (this.firstError) throw this.firstError;
  }

  /** After the last layer: extended attributes, then directory modes, owners and times, deepest first. */
  async finish(): Promise<void> {
    await this.drain();
    if (this.xattrs && this.xattrs.size > 0) {
      const xattrOptions: Parameters<typeof applyXattrs>[2] = {
        privileged: this.options.isRoot === true,
        skip: (cause, message, count) => this.skip('xattr', message, cause, count),
      };
      if (this.options.setfattr) xattrOptions.setfattr = this.options.setfattr;
      if (this.options.signal) xattrOptions.signal = this.options.signal;
      this.stats.xattrs = (this.stats.xattrs ?? 0) + (await applyXattrs(this.root, this.xattrs.targets(), xattrOptions));
    }
    const dirs = [...this.dirMeta.entries()].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [path, entry] of dirs) {
      await this.ownAndTime(this.abs(path), entry).catch((err: unknown) => this.warn(`${path}: ${(err as Error).message}`));
    }
  }

  private async apply(entry: LayerEntry, body: LayerEntryWithBody['body']): Promise<void> {
    const w = this.classify(entry);
    if (w?.kind === 'aufs') return;
    if (w?.kind === 'opaque') {
      await this.drain();
      await this.prune(this.resolve(w.dir, true));
      return;
    }
    if (w?.kind === 'file') {
      const target = this.resolve(w.target, false);
      if (target !== '' && this.present.has(target) && !this.writtenThisLayer.has(target)) {
        await this.drain();
        await this.removeTree(target);
      }
      return;
    }
    const path = this.resolve(entry.path, false);
    if (path === '') {
      this.dirMeta.set('', entry);
      this.xattrs?.set('', entry);
      return;
    }
    await this.makeParents(path);
    this.writtenThisLayer.add(path);
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) this.holdingThisLayer.add(path.slice(0, i));
    const abs = this.abs(path);
    const existing = this.present.get(path);
    if (entry.type === 'dir') {
      if (existing?.kind === 'dir') {
        this.dirMeta.set(path, entry);
        this.xattrs?.set(path, entry);
        return;
      }
      if (existing) await this.removeTree(path);
      await fsp.mkdir(abs, { mode: 0o700 });
      this.present.set(path, { kind: 'dir' });
      this.dirMeta.set(path, entry);
      this.xattrs?.set(path, entry);
      return;
    }
    if (existing) {
      await this.drain(); // something below or at this path may still be being written
      await this.removeTree(path);
    }
    switch (entry.type) {
      case 'file':
        this.stats.files++;
        this.stats.bytes += entry.size;
        this.present.set(path, { kind: 'other' });
        this.xattrs?.set(path, entry);
        if (entry.size <= SMALL_FILE) {
          // Read now (the reader must move on), write while the next entries are read.
          const data = body && entry.size > 0 ? await readEntryBody(body, entry.size) : EMPTY;
          await this.inFlight(path, this.writeSmall(abs, entry, data));
        } else {
          await this.writeStreamed(abs, entry, body);
        }
        return;
      case 'symlink':
        await fsp.symlink(entry.linkname ?? '', abs);
        this.present.set(path, { kind: 'symlink', target: entry.linkname ?? '' });
        this.xattrs?.set(path, entry);
        if (this.applyOwnership) await fsp.lchown(abs, entry.uid, entry.gid);
        await fsp.lutimes(abs, entry.mtime, entry.mtime).catch(() => {});
        return;
      case 'hardlink': {
        const target = this.resolve(entry.linkname ?? '', false);
        await this.pending.get(target);
        const st = this.present.get(target)?.kind === 'other' ? await fsp.lstat(this.abs(target)).catch(() => undefined) : undefined;
        if (!st?.isFile()) {
          this.skip('hardlink-outside', `${entry.path}: hard link to ${entry.linkname}, which is not a file in the image`);
          return;
        }
        await fsp.link(this.abs(target), abs);
        this.present.set(path, { kind: 'other' });
        this.xattrs?.link(path, target);
        return;
      }
      default:
        this.skip(entry.type, `${entry.path}: ${entry.type === 'fifo' ? 'a fifo' : `a ${entry.type} device`} is not created (rootless unpack)`);
    }
  }

  /**
   * One open (exclusive, never through a symlink), one write, then owner, mode and time on the same descriptor.
   * Plain fds and callbacks: a FileHandle per file costs more main-thread time than the write itself.
   */
  private async writeSmall(abs: string, entry: LayerEntry, data: Buffer): Promise<void> {
    const fd = await fdOpen(abs, CREATE_EXCLUSIVE, entry.mode & 0o7777);
    try {
      if (data.length > 0) await fdWrite(fd, data, 0, data.length, 0);
      await this.finishFd(fd, entry);
    } finally {
      await fdClose(fd);
    }
  }

  private async writeStreamed(abs: string, entry: LayerEntry, body: LayerEntryWithBody['body']): Promise<void> {
    const fd = await fdOpen(abs, CREATE_EXCLUSIVE, entry.mode & 0o7777);
    try {
      if (body) await pipeline(body, createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 }));
      await this.finishFd(fd, entry);
    } finally {
      await fdClose(fd);
    }
  }

  private async finishFd(fd: number, entry: LayerEntry): Promise<void> {
    if (!this.xattrs && entry.xattrs && Object.keys(entry.xattrs).length > 0) this.skip('xattr', `${entry.path}: extended attributes are not set`);
    if (this.applyOwnership) await fdChown(fd, entry.uid, entry.gid);
    // The mode was given at creation; the umask (or a chown, which clears setuid) may have taken bits off.
    const setid = (entry.mode & 0o6000) !== 0;
    if ((this.applyOwnership && setid) || (entry.mode & this.umask) !== 0) await fdChmod(fd, entry.mode & 0o7777);
    await fdUtimes(fd, entry.mtime, entry.mtime);
  }

  /** Track a write in flight; at most IN_FLIGHT at once, so memory stays bounded. */
  private async inFlight(path: string, write: Promise<void>): Promise<void> {
    const tracked = write.then(
      () => {
        if (this.pending.get(path) === tracked) this.pending.delete(path);
      },
      (err: unknown) => {
        this.firstError ??= err;
        if (this.pending.get(path) === tracked) this.pending.delete(path);
      },
    );
    this.pending.set(path, tracked);
    if (this.pending.size >= IN_FLIGHT) await Promise.race(this.pending.values());
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
  }

  /**
   * `path` with the symlinks among its parents resolved inside the root, from what this unpacker made. With
   * `whole` the last component is resolved too. Loops and very long chains are LAYER_INVALID.
   */
  private resolve(path: string, whole: boolean): string {
    return resolveInRoot(path, whole, (p) => {
      const node = this.present.get(p);
      return node?.kind === 'symlink' ? node.target : undefined;
    });
  }

  /** Parents that do not exist become directories; a non-directory in the way is replaced (as tar does). */
  private async makeParents(path: string): Promise<void> {
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
      const dir = path.slice(0, i);
      const node = this.present.get(dir);
      if (node?.kind === 'dir') continue;
      if (node) {
        await this.drain();
        await this.removeTree(dir);
      }
      await fsp.mkdir(this.abs(dir), { mode: 0o755 });
      this.present.set(dir, { kind: 'dir' });
    }
  }

  /**
   * An opaque directory: remove everything lower layers put below it, keeping what this layer already wrote
   * there (a marker may come after the layer's own entries in the tar).
   */
  private async prune(dir: string): Promise<void> {
    for (const name of await fsp.readdir(this.abs(dir)).catch(() => [] as string[])) {
      const child = dir ? `${dir}/${name}` : name;
      if (!this.writtenThisLayer.has(child) && !this.holdingThisLayer.has(child)) {
        await this.removeTree(child);
        continue;
      }
      if (this.present.get(child)?.kind === 'dir') await this.prune(child);
    }
  }

  private async removeTree(path: string): Promise<void> {
    await fsp.rm(this.abs(path), { recursive: true, force: true });
    const prefix = `${path}/`;
    for (const p of this.present.keys()) if (p === path || p.startsWith(prefix)) this.present.delete(p);
    for (const p of this.dirMeta.keys()) if (p === path || p.startsWith(prefix)) this.dirMeta.delete(p);
    this.xattrs?.remove(path);
  }

  private async ownAndTime(abs: string, entry: LayerEntry): Promise<void> {
    if (this.applyOwnership) await fsp.lchown(abs, entry.uid, entry.gid);
    await fsp.chmod(abs, entry.mode & 0o7777);
    await fsp.utimes(abs, entry.mtime, entry.mtime);
  }

  private skip(reason: string, message: string, cause = reason, count = 1): void {
    this.stats.skipped[reason] = (this.stats.skipped[reason] ?? 0) + count;
    // One warning per cause (with the first example), not one per file of a large layer.
    if (!this.warned.has(cause)) {
      this.warned.add(cause);
      this.warn(message);
    }
  }

  private warn(message: string): void {
    this.options.onWarning?.(message);
  }

  private abs(path: string): string {
    return path === '' ? this.root : join(this.root, path);
  }
}

const CREATE_EXCLUSIVE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const fdOpen = promisify(fs.open) as (path: string, flags: number, mode: number) => Promise<number>;
const fdWrite = promisify(fs.write) as unknown as (fd: number, buf: Buffer, off: number, len: number, pos: number) => Promise<number>;
const fdClose = promisify(fs.close);
const fdChown = promisify(fs.fchown);
const fdChmod = promisify(fs.fchmod);
const fdUtimes = promisify(fs.futimes);

/** Files up to this size are read into memory and written while the reader goes on. */
const SMALL_FILE = 1 << 20;
/** Writes in flight at once (libuv's pool has 4 threads; a few more keep it busy). */
const IN_FLIGHT = 16;
const EMPTY = Buffer.alloc(0);

