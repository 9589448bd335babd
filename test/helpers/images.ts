/**
 * A builder of synthetic container images for tests: it writes an OCI image layout (oci-layout, index.json,
 * blobs/sha256/…) straight to disk with node fs, with real gzip-compressed tar layers made by a small ustar
 * writer below. Everything is deterministic (fixed mtimes, seeded pseudo-random file contents, gzip headers
 * without a timestamp), so the same specs give the same digests on every run. Layers are streamed through
 * tar → hash → gzip → hash → file, so a layer of several hundred MiB never sits in memory.
 *
 * No dependency on anything outside the repository: every transport test builds the images it needs.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DigestingStream, digestHex, digestOf, type Digest } from '../../src/digest/index.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor, HistoryEntry, ImageConfig, Platform } from '../../src/oci/types.js';

// ---------------------------------------------------------------------------------------------------------
// Specs

/** One entry of a layer's tar. */
export interface FileSpec {
  /** Path inside the layer; a leading `/` or `./` is dropped unless `raw` is set. */
  path: string;
  /** Default `file`. */
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  /** Exact contents of a regular file. */
  content?: string | Uint8Array;
  /** Instead of `content`: this many deterministic pseudo-random bytes, generated while streaming. */
  size?: number;
  /** Seed of the pseudo-random contents (default: the path), so two files can differ or be equal on purpose. */
  seed?: string;
  /** Permission bits; default 0644 for files, 0755 for directories, 0777 for symlinks. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default 1700000000. */
  mtime?: number;
  /** Target of a symlink or hard link. */
  linkTarget?: string;
  /** Extended attributes, written as PAX `SCHILY.xattr.NAME` records (as GNU tar --xattrs does). */
  xattrs?: Record<string, string | Uint8Array>;
  /**
   * Write `path` (and `linkTarget`) exactly as given: no normalisation and no implicit parent directories.
   * For hostile-archive tests (`../escape`, `/etc/passwd`).
   */
  raw?: boolean;
}

export interface LayerOptions {
  files: FileSpec[];
  /** Override the build's compression for this layer. */
  compression?: 'gzip' | 'none';
  /** Emit directory entries for parents that are not listed (default true). */
  implicitDirs?: boolean;
}

/** A layer: a list of files (`[]` is an empty layer: a tar with no entries), or the same with options. */
export type LayerSpec = FileSpec[] | LayerOptions;

export interface ConfigSpec {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  Labels?: Record<string, string>;
  User?: string;
  WorkingDir?: string;
  /** `['80/tcp']` or the config's own shape `{ '80/tcp': {} }`. */
  ExposedPorts?: string[] | Record<string, object>;
  Volumes?: string[] | Record<string, object>;
  StopSignal?: string;
  /** Default 2024-01-01T00:00:00Z. */
  created?: string;
  author?: string;
  /** Default: one entry per layer, `created_by: "layer N"`. */
  history?: HistoryEntry[];
}

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageSpec {
  /** The tag (`org.opencontainers.image.ref.name` in index.json). Specs sharing a tag form a multi-platform index. */
  tag?: string;
  /** Default linux/amd64. */
  platform?: PlatformSpec;
  /** Default: none (a zero-layer image). */
  layers?: LayerSpec[];
  config?: ConfigSpec;
  /** Annotations on the image manifest. */
  annotations?: Record<string, string>;
}

export interface BuildOptions {
  /** `oci` (default) or Docker schema 2 media types (`v2s2`: manifest, manifest list, config and layers). */
  format?: 'oci' | 'v2s2';
  /** Wrap every tag in an index, even one with a single image. */
  index?: boolean;
  /** Layer compression (default gzip). Docker schema 2 has no uncompressed layer type, so v2s2 needs gzip. */
  compression?: 'gzip' | 'none';
  /** gzip level 1-9 (default 6); use 1 for large layers to keep tests fast. */
  gzipLevel?: number;
  /** Add to an existing layout's index.json instead of starting a fresh one. */
  append?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Results

export interface BuiltBlob {
  digest: Digest;
  size: number;
  mediaType: string;
}

export interface BuiltLayer extends BuiltBlob {
  /** Digest of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: Digest;
  uncompressedSize: number;
}

export interface BuiltImage {
  tag: string | undefined;
  platform: Platform;
  manifest: BuiltBlob & { bytes: Buffer };
  config: BuiltBlob & { bytes: Buffer; json: ImageConfig };
  layers: BuiltLayer[];
  diffIds: Digest[];
}

/** What one entry of index.json points at: an image manifest, or an index of several. */
export interface BuiltRef extends BuiltBlob {
  tag: string | undefined;
  bytes: Buffer;
  isIndex: boolean;
  images: BuiltImage[];
}

export interface BuiltLayout {
  dir: string;
  refs: BuiltRef[];
  /** Every image built, in spec order. */
  images: BuiltImage[];
  /** The ref with this tag; throws when there is none. */
  ref(tag: string): BuiltRef;
  /** Every blob digest written (manifests, indexes, configs, layers). */
  blobs: Digest[];
}

// ---------------------------------------------------------------------------------------------------------
// Public helpers

export const MiB = 1 << 20;
export const DEFAULT_MTIME = 1_700_000_000;
export const DEFAULT_CREATED = '2024-01-01T00:00:00Z';

/** A single-file layer of `mib` MiB of incompressible pseudo-random bytes, streamed (never held in memory). */
export function largeLayer(mib: number, path = 'large.bin'): LayerSpec {
  return [{ path, size: Math.round(mib * MiB) }];
}

/** Where a blob lives in an OCI layout. */
export function blobPath(layoutDir: string, digest: Digest): string {
  const colon = digest.indexOf(':');
  return join(layoutDir, 'blobs', digest.slice(0, colon), digest.slice(colon + 1));
}

/** Flip one byte of a blob in place (the middle one), so its digest no longer matches. */
export async function corruptBlob(layoutDir: string, digest: Digest, offset?: number): Promise<void> {
  const path = blobPath(layoutDir, digest);
  const fh = await fsp.open(path, 'r+');
  try {
    const { size } = await fh.stat();
    if (size === 0) throw new Error(`corruptBlob: ${digest} is empty, there is no byte to flip`);
    const at = offset ?? Math.floor(size / 2);
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, at);
    buf[0] = buf[0]! ^ 0xff;
    await fh.write(buf, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** Delete a blob from a layout (index.json and manifests still name it). */
export async function removeBlob(layoutDir: string, digest: Digest): Promise<void> {
  await fsp.unlink(blobPath(layoutDir, digest));
}

/** Deterministic pseudo-random bytes (AES-256-CTR keystream keyed by the seed). */
export function pseudoRandomBytes(seed: string, size: number): Buffer {
  const chunks: Buffer[] = [];
  for (const c of pseudoRandomChunks(seed, size)) chunks.push(c);
  return Buffer.concat(chunks, size);
}

/** Write an OCI image layout holding `images`; returns every digest a test may want to assert. */
export async function buildLayout(dir: string, images: ImageSpec[], options: BuildOptions = {}): Promise<BuiltLayout> {
  const format = options.format ?? 'oci';
  const compression = options.compression ?? 'gzip';
  if (format === 'v2s2' && compression !== 'gzip') {
    throw new Error('buildLayout: Docker schema 2 has no media type for uncompressed layers; use gzip with v2s2');
  }
  const types = format === 'oci' ? OCI_TYPES : DOCKER_TYPES;
  const blobsDir = join(dir, 'blobs', 'sha256');
  await fsp.mkdir(blobsDir, { recursive: true });
  await fsp.writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const blobs = new Set<Digest>();

  const writeJsonBlob = async (value: unknown): Promise<{ digest: Digest; bytes: Buffer }> => {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = digestOf(bytes);
    await fsp.writeFile(join(blobsDir, digestHex(digest)), bytes);
    blobs.add(digest);
    return { digest, bytes };
  };

  const built: BuiltImage[] = [];
  for (const spec of images) {
    const platform: Platform = { os: spec.platform?.os ?? 'linux', architecture: spec.platform?.architecture ?? 'amd64' };
    if (spec.platform?.variant) platform.variant = spec.platform.variant;

    const layers: BuiltLayer[] = [];
    for (const layerSpec of spec.layers ?? []) {
      const lo: LayerOptions = Array.isArray(layerSpec) ? { files: layerSpec } : layerSpec;
      const layerCompression = lo.compression ?? compression;
      if (format === 'v2s2' && layerCompression !== 'gzip') {
        throw new Error('buildLayout: v2s2 layers must be gzip-compressed');
      }
      const layer = await writeLayer(blobsDir, lo, layerCompression, options.gzipLevel ?? 6);
      layer.mediaType = layerCompression === 'gzip' ? types.layerGzip : MediaType.OciLayer;
      layers.push(layer);
      blobs.add(layer.digest);
    }

    const c = spec.config ?? {};
    const created = c.created ?? DEFAULT_CREATED;
    const runConfig: Record<string, unknown> = {};
    if (c.User !== undefined) runConfig.User = c.User;
    if (c.ExposedPorts !== undefined) runConfig.ExposedPorts = asSet(c.ExposedPorts);
    if (c.Env !== undefined) runConfig.Env = c.Env;
    if (c.Entrypoint !== undefined) runConfig.Entrypoint = c.Entrypoint;
    if (c.Cmd !== undefined) runConfig.Cmd = c.Cmd;
    if (c.Volumes !== undefined) runConfig.Volumes = asSet(c.Volumes);
    if (c.WorkingDir !== undefined) runConfig.WorkingDir = c.WorkingDir;
    if (c.Labels !== undefined) runConfig.Labels = c.Labels;
    if (c.StopSignal !== undefined) runConfig.StopSignal = c.StopSignal;
    const config: ImageConfig = {
      created,
      ...(c.author !== undefined ? { author: c.author } : {}),
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: c.history ?? layers.map((_, i) => ({ created, created_by: `layer ${i + 1}` })),
    };
    const cfg = await writeJsonBlob(config);

    const manifest = {
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: cfg.digest, size: cfg.bytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    };
    const man = await writeJsonBlob(manifest);
    built.push({
      tag: spec.tag,
      platform,
      manifest: { digest: man.digest, size: man.bytes.length, mediaType: types.manifest, bytes: man.bytes },
      config: { digest: cfg.digest, size: cfg.bytes.length, mediaType: types.config, bytes: cfg.bytes, json: config },
      layers,
      diffIds: layers.map((l) => l.diffId),
    });
  }

  // Group by tag: several images under one tag (or options.index) become an index.
  const groups: { tag: string | undefined; images: BuiltImage[] }[] = [];
  for (const img of built) {
    const g = img.tag === undefined ? undefined : groups.find((x) => x.tag === img.tag);
    if (g) g.images.push(img);
    else groups.push({ tag: img.tag, images: [img] });
  }
  const refs: BuiltRef[] = [];
  for (const g of groups) {
    if (g.images.length === 1 && !options.index) {
      const m = g.images[0]!.manifest;
      refs.push({ tag: g.tag, digest: m.digest, size: m.size, mediaType: m.mediaType, bytes: m.bytes, isIndex: false, images: g.images });
      continue;
    }
    const index = {
      schemaVersion: 2,
      mediaType: types.index,
      manifests: g.images.map((img) => ({
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: img.manifest.size,
        platform: img.platform,
      })),
    };
    const idx = await writeJsonBlob(index);
    refs.push({ tag: g.tag, digest: idx.digest, size: idx.bytes.length, mediaType: types.index, bytes: idx.bytes, isIndex: true, images: g.images });
  }

  let existing: Descriptor[] = [];
  if (options.append) {
    try {
      const prev = JSON.parse(await fsp.readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
      const newTags = new Set(refs.map((r) => r.tag).filter((t) => t !== undefined));
      existing = (prev.manifests ?? []).filter((d) => !newTags.has(d.annotations?.['org.opencontainers.image.ref.name'] ?? '\0'));
    } catch {
      existing = [];
    }
  }
  const top = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      ...existing,
      ...refs.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.tag !== undefined ? { annotations: { 'org.opencontainers.image.ref.name': r.tag } } : {}),
      })),
    ],
  };
  await fsp.writeFile(join(dir, 'index.json'), JSON.stringify(top));

  return {
    dir,
    refs,
    images: built,
    blobs: [...blobs],
    ref(tag: string): BuiltRef {
      const r = refs.find((x) => x.tag === tag);
      if (!r) throw new Error(`buildLayout: no ref tagged "${tag}"`);
      return r;
    },
  };
}

/**
 * Make one tar stream (uncompressed) from a list of files, as an async iterable of chunks. Exposed for tests
 * of the tar reader that want archives without a layout around them.
 */
export function tarStream(files: FileSpec[], implicitDirs = true): Readable {
  return Readable.from(tarChunks(files, implicitDirs), { objectMode: false });
}

/** The bytes of a small tar (all in memory; use tarStream for large ones). */
export async function tarBytes(files: FileSpec[], implicitDirs = true): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of tarChunks(files, implicitDirs)) out.push(c);
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------------------
// Internals

const OCI_TYPES = {
  manifest: MediaType.OciManifest,
  index: MediaType.OciIndex,
  config: MediaType.OciConfig,
  layerGzip: MediaType.OciLayerGzip,
};
const DOCKER_TYPES = {
  manifest: MediaType.DockerManifest,
  index: MediaType.DockerManifestList,
  config: MediaType.DockerConfig,
  layerGzip: MediaType.DockerLayerGzip,
};

function asSet(v: string[] | Record<string, object>): Record<string, object> {
  return Array.isArray(v) ? Object.fromEntries(v.map((k) => [k, {}])) : v;
}

async function writeLayer(blobsDir: string, spec: LayerOptions, compression: 'gzip' | 'none', level: number): Promise<BuiltLayer> {
  const tmp = join(blobsDir, `.layer-${process.pid}-${Math.random().toString(16).slice(2)}.tmp`);
  const plain = new DigestingStream();
  const packed = compression === 'gzip' ? new DigestingStream() : plain;
  const source = tarStream(spec.files, spec.implicitDirs ?? true);
  const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
  try {
    if (compression === 'gzip') await pipeline(source, plain, createGzip({ level, chunkSize: 1 << 20 }), packed, out);
    else await pipeline(source, plain, out);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  const digest = packed.digest();
  await fsp.rename(tmp, join(blobsDir, digestHex(digest)));
  return {
    digest,
    size: packed.bytes,
    mediaType: '',
    diffId: plain.digest(),
    uncompressedSize: plain.bytes,
  };
}

function* pseudoRandomChunks(seed: string, size: number, chunk = 1 << 20): Generator<Buffer> {
  const key = createHash('sha256').update(`wharf-test:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(Math.min(chunk, Math.max(size, 1)));
  let left = size;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    yield cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    left -= n;
  }
}

interface Entry {
  name: string;
  type: NonNullable<FileSpec['type']>;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkTarget: string;
  xattrs: Record<string, string | Uint8Array>;
  body: () => Iterable<Buffer>;
}

function normalise(path: string): string {
  let p = path;
  while (p.startsWith('./')) p = p.slice(2);
  while (p.startsWith('/')) p = p.slice(1);
  while (p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function toEntries(files: FileSpec[], implicitDirs: boolean): Entry[] {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  const explicitDirs = new Set(files.filter((f) => f.type === 'dir' && !f.raw).map((f) => normalise(f.path)));
  for (const f of files) {
    const type = f.type ?? 'file';
    const name = f.raw ? f.path : normalise(f.path);
    if (!f.raw && implicitDirs) {
      const parts = name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (seen.has(dir) || explicitDirs.has(dir)) continue;
        seen.add(dir);
        entries.push({ name: dir, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: DEFAULT_MTIME, size: 0, linkTarget: '', xattrs: {}, body: () => [] });
      }
    }
    seen.add(name);
    let size = 0;
    let body: () => Iterable<Buffer> = () => [];
    if (type === 'file') {
      if (f.content !== undefined) {
        const buf = typeof f.content === 'string' ? Buffer.from(f.content) : Buffer.from(f.content);
        size = buf.length;
        body = () => [buf];
      } else if (f.size !== undefined) {
        size = f.size;
        const seed = f.seed ?? name;
        body = () => pseudoRandomChunks(seed, size);
      }
    }
    const defaultMode = type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
    entries.push({
      name,
      type,
      mode: f.mode ?? defaultMode,
      uid: f.uid ?? 0,
      gid: f.gid ?? 0,
      mtime: f.mtime ?? DEFAULT_MTIME,
      size,
      linkTarget: f.linkTarget ?? '',
      xattrs: f.xattrs ?? {},
      body,
    });
  }
  return entries;
}

const BLOCK = 512;
const TYPEFLAG: Record<Entry['type'], string> = { file: '0', hardlink: '1', symlink: '2', dir: '5' };
const MAX_OCTAL_11 = 0o77777777777;

async function* tarChunks(files: FileSpec[], implicitDirs: boolean): AsyncGenerator<Buffer> {
  for (const e of toEntries(files, implicitDirs)) {
    const name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const pax: Record<string, string | Uint8Array> = {};
    const split = splitName(name);
    if (!split) pax.path = name;
    if (Buffer.byteLength(e.linkTarget) > 100) pax.linkpath = e.linkTarget;
    if (e.size > MAX_OCTAL_11) pax.size = String(e.size);
    for (const [k, v] of Object.entries(e.xattrs)) pax[`SCHILY.xattr.${k}`] = v;
    if (Object.keys(pax).length > 0) {
      const records = Buffer.concat(Object.entries(pax).map(([k, v]) => paxRecord(k, v)));
      const paxName = `PaxHeaders/${Buffer.from(name).subarray(-80).toString('latin1').replace(/[^\x20-\x7e]/g, '_')}`;
      yield header({ name: paxName, prefix: '', type: 'x', mode: 0o644, uid: 0, gid: 0, mtime: e.mtime, size: records.length, linkTarget: '' });
      yield padded(records);
    }
    const [prefix, base] = split ?? ['', Buffer.from(name).subarray(0, 100).toString('latin1')];
    yield header({
      name: base,
      prefix,
      type: TYPEFLAG[e.type],
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime,
      size: e.type === 'file' ? e.size : 0,
      linkTarget: pax.linkpath ? Buffer.from(e.linkTarget).subarray(0, 100).toString('latin1') : e.linkTarget,
    });
    if (e.type === 'file' && e.size > 0) {
      let written = 0;
      for (const chunk of e.body()) {
        written += chunk.length;
        yield chunk;
      }
      if (written !== e.size) throw new Error(`tar writer: ${e.name} produced ${written} bytes, expected ${e.size}`);
      const pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad);
    }
  }
  yield Buffer.alloc(BLOCK * 2);
}

/** Split a path into ustar prefix (≤155 bytes) and name (≤100 bytes); undefined when it cannot be. */
function splitName(name: string): [string, string] | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return ['', name];
  if (bytes > 256) return undefined;
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return [prefix, rest];
  }
  return undefined;
}

function paxRecord(key: string, value: string | Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = body.length;
  let total = len + String(len).length;
  if (String(total).length !== String(len).length) total = len + String(total).length;
  len = total;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function padded(buf: Buffer): Buffer {
  const pad = (BLOCK - (buf.length % BLOCK)) % BLOCK;
  return pad ? Buffer.concat([buf, Buffer.alloc(pad)]) : buf;
}

interface HeaderFields {
  name: string;
  prefix: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkTarget: string;
}

function header(h: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  const str = (s: string, off: number, len: number) => {
    Buffer.from(s, 'utf8').copy(b, off, 0, len);
  };
  const oct = (n: number, off: number, len: number) => {
    str(`${Math.min(n, 8 ** (len - 1) - 1).toString(8).padStart(len - 1, '0')}\0`, off, len);
  };
  str(h.name, 0, 100);
  oct(h.mode & 0o7777, 100, 8);
  oct(h.uid, 108, 8);
  oct(h.gid, 116, 8);
  oct(h.size, 124, 12);
  oct(h.mtime, 136, 12);
  b.fill(0x20, 148, 156);
  str(h.type, 156, 1);
  str(h.linkTarget, 157, 100);
  str('ustar\0', 257, 6);
  str('00', 263, 2);
  str(h.uid === 0 ? 'root' : '', 265, 32);
  str(h.gid === 0 ? 'root' : '', 297, 32);
  oct(0, 329, 8);
  oct(0, 337, 8);
  str(h.prefix, 345, 155);
  let sum = 0;
  for (const byte of b) sum += byte;
  str(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return b;
}
