import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { digestAlgorithm, digestHex, digestOf, parseDigest, type Digest } from '../../digest/index.js';
import { asWharfError } from '../../errors.js';
import { LAYOUT_VERSION, REF_NAME_ANNOTATION, blobPath, emptyIndex, readIndex } from '../../oci/layout.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import { isIndexMediaType } from '../../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../../oci/types.js';
import { fsyncDir, tempPathBeside, writeFileAtomic } from '../../util/fs.js';
import { RegistryApiError, apiError } from '../errors.js';
import { RepositoryLocks } from './locks.js';
import { LruCache, manifestInfoFromPush, manifestInfoFromStored, type ManifestInfo } from './manifest-info.js';
import { isValidTag, validateRepositoryName } from './names.js';
import { UploadStore, type UploadSession } from './uploads.js';

/** How long a repository's parsed index.json is trusted before the file is looked at again. */
const STATE_RECHECK_MS = 1000;

/** The server's own folder inside the storage root; no repository name can start with a dot. */
export const META_DIR = '.wharf';

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

export interface ManifestPutResult {
  digest: Digest;
  subject?: Digest;
}

/** One repository's index.json, parsed, and what is derived from it (valid while the file is unchanged). */
interface RepositoryState {
  stamp: string;
  /** When the file was last compared with `stamp`. */
  checkedAt: number;
  index: ImageIndex;
  tags: Map<string, Descriptor>;
  /** Every manifest index.json lists, tagged or not (the first descriptor of each digest). */
  listed: Map<Digest, Descriptor>;
  /** Children of listed indexes, found on first need (an index's children need not be listed). */
  children?: Map<Digest, Descriptor>;
  referrers?: Map<Digest, Descriptor[]>;
}

const tagOf = (d: Descriptor): string | undefined => d.annotations?.[REF_NAME_ANNOTATION];

/**
 * The registry's content store. Each repository is an OCI image layout in the folder its name gives
 * (`<root>/team/app/{oci-layout,index.json,blobs/}`), which is what `wharf sync --dest oci` writes, so such a
 * tree is served as it is. Tags are index.json entries named with `org.opencontainers.image.ref.name`; every
 * manifest pushed by digest is an entry without a name. Blobs are content-addressed once for all repositories in
 * `<root>/.wharf/blobs/`, and a repository's `blobs/` holds hard links to them: a repository "has" a blob when
 * its link exists, so a blob pushed to one repository cannot be read through another.
 *
 * Invariants: a blob is linked only after its digest was verified; index.json is replaced atomically under the
 * repository's lock, and names only manifests whose blobs were linked first; GC sweeps a repository under the
 * same lock.
 */
export class RegistryStore {
  readonly uploads: UploadStore;
  readonly locks = new RepositoryLocks();
  private readonly states = new Map<string, RepositoryState>();
  /** Bumped by every writeIndex of a repository (see state()). */
  private readonly generations = new Map<string, number>();
  private readonly infos = new LruCache<Digest, ManifestInfo>(20_000);
  private readonly manifestBytes = new LruCache<Digest, Buffer>(32 << 20, (b) => b.length);
  /** Small blobs (configs, mostly), by digest: their bytes never change, only which repositories link them. */
  private readonly smallBlobs = new LruCache<Digest, Buffer>(16 << 20, (b) => b.length);
  private catalog: { at: number; names: string[] } | undefined;
  private readonly madeDirs = new Set<string>();

  private constructor(readonly root: string) {
    this.uploads = new UploadStore(join(root, META_DIR, 'uploads'));
  }

  static async open(root: string): Promise<RegistryStore> {
    for (const sub of ['blobs', 'uploads', 'tmp']) {
      try {
        await fsp.mkdir(join(root, META_DIR, sub), { recursive: true });
      } catch (err) {
        throw asWharfError(err, 'IO_ERROR', `creating the registry storage in ${root}`);
      }
    }
    return new RegistryStore(root);
  }

  get metaDir(): string {
    return join(this.root, META_DIR);
  }

  repositoryDir(name: string): string {
    return join(this.root, ...validateRepositoryName(name).split('/'));
  }

  sharedBlobPath(digest: Digest): string {
    return join(this.root, META_DIR, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  // ---- repositories -------------------------------------------------------------------------------------------

  /** The parsed index.json of a repository; `undefined` when there is no such repository. */
  async state(name: string, now = Date.now()): Promise<RepositoryState | undefined> {
    const dir = this.repositoryDir(name);
    const recent = this.states.get(name);
    // What this process writes it forgets at once (writeIndex); what others write (`wharf copy` into the tree,
    // `wharf registry gc`) is seen within a second. Checking every request cost a stat each: half the CPU of a
    // manifest GET.
    if (recent && now - recent.checkedAt < STATE_RECHECK_MS) return recent;
    // A read that overlaps our own write must not put the old file back into the cache.
    const generation = this.generations.get(name) ?? 0;
    let st: Stats;
    try {
      st = await fsp.stat(join(dir, 'index.json'));
    } catch {
      this.states.delete(name);
      return undefined;
    }
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (recent?.stamp === stamp && (this.generations.get(name) ?? 0) === generation) {
      recent.checkedAt = now;
      return recent;
    }
    const index = await readIndex(dir, true).catch((err: unknown) => {
      throw asWharfError(err, 'IO_ERROR', `reading repository ${name}`);
    });
    const fresh = stateOf(index!, stamp, now);
    if ((this.generations.get(name) ?? 0) === generation) this.states.set(name, fresh);
    return fresh;
  }

  /** Replace a repository's index.json (the caller holds its lock), and forget what was derived from the old one. */
  async writeIndex(name: string, index: ImageIndex): Promise<void> {
    try {
      await writeFileAtomic(join(this.repositoryDir(name), 'index.json'), JSON.stringify(index));
      // The rename itself must survive a power cut before the client is told its manifest is stored.
      await fsyncDir(this.repositoryDir(name));
    } finally {
      this.generations.set(name, (this.generations.get(name) ?? 0) + 1);
      this.states.delete(name);
    }
  }

  private async mustState(name: string): Promise<RepositoryState> {
    const s = await this.state(name);
    if (!s) throw apiError.nameUnknown(name);
    return s;
  }

  /** Create the repository's layout if it is not there yet (first push). */
  private async ensureRepository(name: string): Promise<string> {
    const dir = this.repositoryDir(name);
    if (this.madeDirs.has(dir) && (await this.state(name))) return dir;
    await fsp.mkdir(join(dir, 'blobs'), { recursive: true });
    await this.locks.withRepository(dir, async () => {
      const marker = join(dir, 'oci-layout');
      if (!(await fsp.stat(marker).catch(() => undefined))) {
        await writeFileAtomic(marker, JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
      }
      if (!(await fsp.stat(join(dir, 'index.json')).catch(() => undefined))) {
        await this.writeIndex(name, emptyIndex());
        this.catalog = undefined;
      }
    });
    this.madeDirs.add(dir);
    return dir;
  }

  /**
   * Every repository below the root, sorted in lexical (byte) order: each folder holding an OCI layout.
   * Cached for a few seconds, since a catalog walk reads the whole tree's folders.
   */
  async repositories(now = Date.now(), fresh = false): Promise<string[]> {
    if (!fresh && this.catalog && now - this.catalog.at < 5000) return this.catalog.names;
    const names: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
      const hasLayout = entries.some((e) => e.name === 'oci-layout' && e.isFile()) && entries.some((e) => e.name === 'index.json');
      if (hasLayout && prefix) names.push(prefix);
      for (const e of entries) {
        if (!e.isDirectory() || e.name.startsWith('.') || (hasLayout && e.name === 'blobs')) continue;
        const child = prefix ? `${prefix}/${e.name}` : e.name;
        try {
          validateRepositoryName(child);
        } catch {
          continue; // a folder whose name no client could ask for
        }
        await walk(join(dir, e.name), child);
      }
    };
    await walk(this.root, '');
    names.sort(compareBytes);
    this.catalog = { at: now, names };
    return names;
  }

  async tags(name: string): Promise<string[]> {
    return [...(await this.mustState(name)).tags.keys()].sort(compareBytes);
  }

  // ---- blobs --------------------------------------------------------------------------------------------------

  repositoryBlobPath(name: string, digest: Digest): string {
    return blobPath(this.repositoryDir(name), digest);
  }

  /** Open a blob of the repository for reading; `undefined` when the repository does not have it. */
  async openBlob(name: string, digest: Digest): Promise<{ handle: fsp.FileHandle; size: number } | undefined> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.repositoryBlobPath(name, parseDigestOrInvalid(digest)), 'r');
    } catch {
      return undefined;
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return undefined;
    }
    return { handle, size: st.size };
  }

  /** A small blob's bytes from memory, if this repository (still) links it: one stat instead of four calls. */
  async cachedSmallBlob(name: string, digest: Digest): Promise<Buffer | undefined> {
    const hit = this.smallBlobs.get(parseDigestOrInvalid(digest));
    if (!hit) return undefined;
    return (await this.blobSize(name, digest)) === hit.length ? hit : undefined;
  }

  /** Keep a small blob's bytes, read whole (and so of the size its file has), for cachedSmallBlob. */
  rememberSmallBlob(digest: Digest, bytes: Buffer): void {
    this.smallBlobs.set(digest, bytes);
  }

  async blobSize(name: string, digest: Digest): Promise<number | undefined> {
    const st = await fsp.stat(this.repositoryBlobPath(name, digest)).catch(() => undefined);
    return st?.isFile() ? st.size : undefined;
  }

  /** Remove the repository's link to a blob (the bytes stay while another repository links them, until GC). */
  async deleteBlob(name: string, digest: Digest): Promise<void> {
    parseDigestOrInvalid(digest);
    const dir = this.repositoryDir(name);
    await this.mustState(name);
    await this.locks.withRepository(dir, async () => {
      try {
        await fsp.unlink(blobPath(dir, digest));
      } catch {
        throw apiError.blobUnknown(digest);
      }
    });
  }

  /**
   * Make a verified file (an upload's data, a manifest's temp file) the blob `digest` of repository `name`:
   * linked into the shared store, then into the repository under its lock. The caller removes `file` after.
   */
  async commitBlob(name: string, digest: Digest, file: string): Promise<void> {
    const dir = await this.ensureRepository(name);
    await this.locks.withRepository(dir, () => this.linkCommitted(dir, digest, file));
  }

  /** commitBlob's work, for a caller that already holds the repository's lock. */
  private async linkCommitted(dir: string, digest: Digest, file: string): Promise<void> {
    const shared = this.sharedBlobPath(digest);
    await this.mkdirOnce(join(this.root, META_DIR, 'blobs', digestAlgorithm(digest)));
    await this.mkdirOnce(join(dir, 'blobs', digestAlgorithm(digest)));
    const target = blobPath(dir, digest);
    // GC may remove the shared link between our two links (it holds no lock on the shared store): then the
    // second link finds nothing, and we place the shared one again from our own file, which is still here.
    for (let attempt = 0; ; attempt++) {
      await linkIfAbsent(file, shared);
      try {
        await linkIfAbsent(shared, target);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw asWharfError(err, 'IO_ERROR', `storing blob ${digest}`);
      }
    }
    await fsyncDir(join(dir, 'blobs', digestAlgorithm(digest)));
  }

  /**
   * Cross-repository mount: link `from`'s blob into `name`. False when `from` does not have it (the caller
   * then opens an ordinary upload, as the spec says).
   */
  async mountBlob(name: string, from: string, digest: Digest): Promise<boolean> {
    const source = this.repositoryBlobPath(from, digest);
    if ((await this.blobSize(from, digest)) === undefined) return false;
    return this.linkExisting(name, digest, source);
  }

  /** Automatic content discovery: mount a blob the registry holds in any repository. */
  async mountFromAnywhere(name: string, digest: Digest): Promise<boolean> {
    return this.linkExisting(name, digest, this.sharedBlobPath(digest));
  }

  private async linkExisting(name: string, digest: Digest, source: string): Promise<boolean> {
    const dir = await this.ensureRepository(name);
    return this.locks.withRepository(dir, async () => {
      await this.mkdirOnce(join(dir, 'blobs', digestAlgorithm(digest)));
      try {
        await linkIfAbsent(source, blobPath(dir, digest));
      } catch {
        return false; // gone meanwhile, or on another filesystem: an ordinary upload will do
      }
      return true;
    });
  }

  /** Finish an upload: verify the digest of everything received, then commit it as a blob. */
  async finishUpload(unsealed: UploadSession, digest: Digest): Promise<void> {
    const session = await this.uploads.seal(unsealed);
    const actual = await this.uploads.digestOf(session, digestAlgorithm(digest));
    if (actual !== digest) throw apiError.digestInvalid(`the upload has digest ${actual}, not ${digest}`);
    const data = this.uploads.dataPath(session.id);
    const fh = await fsp.open(data, 'r+');
    try {
      await fh.sync(); // the bytes are on disk before any name points at them
    } finally {
      await fh.close();
    }
    await this.commitBlob(session.repository, digest, data);
    await this.uploads.remove(session.id);
  }

  // ---- manifests ----------------------------------------------------------------------------------------------

  /** A manifest by tag or digest; MANIFEST_UNKNOWN (or NAME_UNKNOWN) when the repository has no such manifest. */
  async getManifest(name: string, reference: string): Promise<StoredManifest> {
    const state = await this.mustState(name);
    const found = await this.findManifest(name, state, reference);
    if (!found) throw apiError.manifestUnknown(reference);
    return found;
  }

  private async findManifest(name: string, state: RepositoryState, reference: string): Promise<StoredManifest | undefined> {
    let descriptor: Descriptor | undefined;
    let mustCheck = false;
    if (isDigestReference(reference)) {
      const digest = parseDigestOrInvalid(reference);
      descriptor = state.listed.get(digest);
      if (!descriptor) {
        descriptor = (await this.childrenOf(name, state)).get(digest);
        mustCheck = true; // a child is named by its parent, but its bytes may have been deleted
      }
    } else {
      if (!isValidTag(reference)) throw apiError.manifestInvalid(`"${reference.slice(0, 40)}" is not a valid tag`);
      descriptor = state.tags.get(reference);
    }
    if (!descriptor) return undefined;
    const bytes = await this.manifestBytesOf(name, descriptor.digest, mustCheck);
    if (!bytes) return undefined;
    return { digest: descriptor.digest, mediaType: descriptor.mediaType, bytes };
  }

  private async manifestBytesOf(name: string, digest: Digest, mustExist: boolean): Promise<Buffer | undefined> {
    const cached = this.manifestBytes.get(digest);
    if (cached && !mustExist) return cached;
    const path = this.repositoryBlobPath(name, digest);
    let bytes: Buffer;
    try {
      const st = await fsp.stat(path);
      if (st.size > MAX_MANIFEST_BYTES) return undefined;
      bytes = cached ?? (await fsp.readFile(path));
    } catch {
      return undefined;
    }
    this.manifestBytes.set(digest, bytes);
    return bytes;
  }

  /** What a stored manifest needs and points at (read once per digest, then cached). */
  async manifestInfo(name: string, descriptor: Descriptor): Promise<ManifestInfo | undefined> {
    const hit = this.infos.get(descriptor.digest);
    if (hit) return hit;
    const bytes = await this.manifestBytesOf(name, descriptor.digest, true);
    if (!bytes) return undefined;
    let info: ManifestInfo;
    try {
      info = manifestInfoFromStored(bytes, descriptor.mediaType);
    } catch {
      return undefined; // not a manifest we can read: it needs nothing and refers to nothing
    }
    this.infos.set(descriptor.digest, info);
    return info;
  }

  private async childrenOf(name: string, state: RepositoryState): Promise<Map<Digest, Descriptor>> {
    if (state.children) return state.children;
    const children = new Map<Digest, Descriptor>();
    const queue = [...state.listed.values()].filter((d) => isIndexMediaType(d.mediaType));
    const seen = new Set<Digest>();
    while (queue.length > 0) {
      const d = queue.pop()!;
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      const info = await this.manifestInfo(name, d);
      for (const child of info?.children ?? []) {
        if (!state.listed.has(child.digest) && !children.has(child.digest)) children.set(child.digest, child);
        if (isIndexMediaType(child.mediaType)) queue.push(child);
      }
    }
    state.children = children;
    return children;
  }

  /**
   * Store a pushed manifest under a tag or its digest. Everything it references must already be in the
   * repository (MANIFEST_BLOB_UNKNOWN otherwise); checked and recorded under the repository's lock, so GC
   * cannot remove a blob between the check and the index update.
   */
  async putManifest(name: string, reference: string, bytes: Buffer, contentType: string | undefined): Promise<ManifestPutResult> {
    const byDigest = isDigestReference(reference);
    if (!byDigest && !isValidTag(reference)) throw apiError.manifestInvalid(`"${reference.slice(0, 40)}" is not a valid tag`);
    const info = manifestInfoFromPush(bytes, contentType);
    let digest = digestOf(bytes);
    if (byDigest) {
      const wanted = parseDigestOrInvalid(reference);
      digest = digestOf(bytes, digestAlgorithm(wanted));
      if (digest !== wanted) throw apiError.digestInvalid(`the manifest has digest ${digest}, not ${wanted}`);
    }
    const dir = await this.ensureRepository(name);
    const tmp = tempPathBeside(join(this.metaDir, 'tmp', 'm'));
    await writeDurable(tmp, bytes);
    try {
      await this.locks.withRepository(dir, async () => {
        for (const blob of info.blobs) {
          const st = await fsp.stat(blobPath(dir, parseDigestOrInvalid(blob.digest))).catch(() => undefined);
          if (!st) throw apiError.manifestBlobUnknown(blob.digest);
        }
        for (const child of info.children) {
          const st = await fsp.stat(blobPath(dir, parseDigestOrInvalid(child.digest))).catch(() => undefined);
          if (!st) throw apiError.manifestBlobUnknown(child.digest);
        }
        await this.linkCommitted(dir, digest, tmp);
        const index = (await readIndex(dir, false)) ?? emptyIndex();
        const entry: Descriptor = { mediaType: info.mediaType, digest, size: bytes.length };
        if (info.artifactType !== undefined) entry.artifactType = info.artifactType;
        index.manifests = byDigest ? addUntagged(index.manifests, entry) : retag(index.manifests, entry, reference);
        await this.writeIndex(name, index);
      });
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    this.infos.set(digest, info);
    this.manifestBytes.set(digest, bytes);
    const result: ManifestPutResult = { digest };
    if (info.subject) result.subject = info.subject.digest;
    return result;
  }

  /** DELETE by digest: every tag of it goes, and the repository's copy of its bytes. */
  async deleteManifest(name: string, digest: Digest): Promise<void> {
    parseDigestOrInvalid(digest);
    const dir = this.repositoryDir(name);
    await this.mustState(name);
    await this.locks.withRepository(dir, async () => {
      const state = await this.mustState(name);
      if (!(await this.findManifest(name, state, digest))) throw apiError.manifestUnknown(digest);
      const index = (await readIndex(dir, true))!;
      index.manifests = index.manifests.filter((m) => m.digest !== digest);
      await this.writeIndex(name, index);
      await fsp.unlink(blobPath(dir, digest)).catch(() => {});
    });
  }

  /** DELETE by tag: the tag goes; the manifest stays, reachable by its digest. */
  async deleteTag(name: string, tag: string): Promise<void> {
    if (!isValidTag(tag)) throw apiError.manifestInvalid(`"${tag.slice(0, 40)}" is not a valid tag`);
    const dir = this.repositoryDir(name);
    await this.mustState(name);
    await this.locks.withRepository(dir, async () => {
      const index = (await readIndex(dir, true))!;
      const entry = index.manifests.find((m) => tagOf(m) === tag);
      if (!entry) throw apiError.manifestUnknown(tag);
      const rest = index.manifests.filter((m) => m !== entry);
      index.manifests = addUntagged(rest, { mediaType: entry.mediaType, digest: entry.digest, size: entry.size });
      await this.writeIndex(name, index);
    });
  }

  /** The referrers API: manifests of the repository whose `subject` is `digest`, as descriptors. */
  async referrers(name: string, digest: Digest): Promise<Descriptor[]> {
    parseDigestOrInvalid(digest);
    const state = await this.state(name);
    if (!state) return [];
    if (!state.referrers) {
      const bySubject = new Map<Digest, Descriptor[]>();
      for (const d of state.listed.values()) {
        const info = await this.manifestInfo(name, d);
        if (!info?.subject) continue;
        const ref: Descriptor = { mediaType: info.mediaType, digest: d.digest, size: info.size };
        const artifactType = info.artifactType ?? info.configMediaType;
        if (artifactType !== undefined) ref.artifactType = artifactType;
        if (info.annotations) ref.annotations = info.annotations;
        const list = bySubject.get(info.subject.digest) ?? [];
        list.push(ref);
        bySubject.set(info.subject.digest, list);
      }
      state.referrers = bySubject;
    }
    return state.referrers.get(digest) ?? [];
  }

  private async mkdirOnce(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await fsp.mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }
}

function stateOf(index: ImageIndex, stamp: string, checkedAt: number): RepositoryState {
  const tags = new Map<string, Descriptor>();
  const listed = new Map<Digest, Descriptor>();
  for (const d of index.manifests) {
    const tag = tagOf(d);
    if (tag !== undefined && isValidTag(tag)) tags.set(tag, d);
    if (!listed.has(d.digest)) listed.set(d.digest, d);
  }
  return { stamp, checkedAt, index, tags, listed };
}

/** Point `tag` at `entry`; a manifest the tag leaves stays listed untagged, so its digest still answers. */
function retag(manifests: Descriptor[], entry: Descriptor, tag: string): Descriptor[] {
  const previous = manifests.find((m) => tagOf(m) === tag);
  let out = manifests.filter((m) => tagOf(m) !== tag && !(m.digest === entry.digest && tagOf(m) === undefined));
  out.push({ ...entry, annotations: { [REF_NAME_ANNOTATION]: tag } });
  if (previous && previous.digest !== entry.digest) {
    out = addUntagged(out, { mediaType: previous.mediaType, digest: previous.digest, size: previous.size });
  }
  return out;
}

function addUntagged(manifests: Descriptor[], entry: Descriptor): Descriptor[] {
  return manifests.some((m) => m.digest === entry.digest) ? manifests : [...manifests, entry];
}

async function linkIfAbsent(from: string, to: string): Promise<void> {
  try {
    await fsp.link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

async function writeDurable(path: string, bytes: Buffer): Promise<void> {
  const fh = await fsp.open(path, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function isDigestReference(reference: string): boolean {
  return reference.includes(':');
}

function parseDigestOrInvalid(value: string): Digest {
  try {
    return parseDigest(value);
  } catch (err) {
    throw new RegistryApiError(400, 'DIGEST_INVALID', (err as Error).message);
  }
}

/** Byte order, which for the ASCII of names and tags is the lexical order the spec asks for. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

