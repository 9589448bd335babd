import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestAlgorithm, digestHex, digestOf, type Digest } from '../../digest/index.js';
import { WharfError, asWharfError } from '../../errors.js';
import { MediaType } from '../../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../../oci/types.js';
import { exists, fsyncDir, streamToFile, withLock, writeFileAtomic } from '../../util/fs.js';
import type {
  DestinationCapabilities,
  ImageDestination,
  ImageReference,
  PutBlobExpectation,
} from '../types.js';
import { INDEX_LOCK_NAME, LAYOUT_VERSION, blobPath, checkLayoutFile, emptyIndex, readIndex } from '../../oci/layout.js';
import { REF_NAME_ANNOTATION } from './reference-name.js';

export interface OciLayoutDestinationOptions {
  /** Take layers as they come instead of compressing plain tars (oci-archive staging, tests). */
  acceptUncompressedLayers?: boolean;
  /** fsync each blob before it becomes visible (default true). */
  durable?: boolean;
}

/**
 * Writes into an OCI image layout. Blobs are staged in a hidden directory inside the layout and moved into
 * blobs/ only at commit, so a failed or interrupted copy leaves the layout as it was. index.json is updated
 * under a lock with a read-modify-write, so concurrent writers into one layout lose no entries.
 */
export class OciLayoutDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities;
  private readonly staging: string;
  private readonly staged = new Map<Digest, string>();
  private top: Descriptor | undefined;
  private committed = false;
  private tmpCounter = 0;

  private constructor(
    readonly reference: ImageReference,
    private readonly root: string,
    private readonly name: string | undefined,
    private readonly createdRoot: boolean,
    private readonly options: OciLayoutDestinationOptions,
  ) {
    this.staging = join(root, `.wharf-staging-${randomBytes(6).toString('hex')}`);
    this.capabilities = {
      manifestTypes: [MediaType.OciManifest, MediaType.OciIndex],
      acceptsIndex: true,
      concurrentPutBlob: true,
      layerCompression: options.acceptUncompressedLayers ? 'preserve' : 'compress',
    };
  }

  static async open(
    reference: ImageReference,
    root: string,
    name: string | undefined,
    options: OciLayoutDestinationOptions = {},
  ): Promise<OciLayoutDestination> {
    let createdRoot = false;
    try {
      const st = await fsp.stat(root);
      if (!st.isDirectory()) {
        throw new WharfError('DESTINATION_EXISTS', `${root} exists and is not a directory`, {
          hint: 'an oci: destination is a directory; pick another path',
        });
      }
      // List first, then look for the marker: another writer may be creating this layout right now, and its
      // marker is the first thing it renames in. Checked the other way round, a marker that arrived between the
      // two looked like a stranger's file in a non-layout directory (a race the concurrent-copy test caught).
      const entries = await fsp.readdir(root);
      const isLayout = await checkLayoutFile(root);
      if (!isLayout && entries.some((e) => !isInFlightEntry(e))) {
        throw new WharfError('DESTINATION_EXISTS', `${root} is a non-empty directory that is not an OCI layout`, {
          hint: 'write into an empty directory or an existing OCI layout',
        });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw asWharfError(err, 'IO_ERROR', `opening ${root}`);
      await fsp.mkdir(root, { recursive: true });
      createdRoot = true;
    }
    const dest = new OciLayoutDestination(reference, root, name, createdRoot, options);
    await fsp.mkdir(dest.staging);
    return dest;
  }

  async tryReuseBlob(descriptor: Descriptor): Promise<boolean> {
    if (this.staged.has(descriptor.digest)) return true;
    try {
      const st = await fsp.stat(blobPath(this.root, descriptor.digest));
      return st.isFile() && (descriptor.size < 0 || st.size === descriptor.size);
    } catch {
      return false;
    }
  }

  async putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor> {
    const tmp = join(this.staging, `tmp-${this.tmpCounter++}`);
    const where = expected.digest ? `blob ${expected.digest}` : 'blob';
    const opts: { digest?: Digest; size?: number; where: string } = { where };
    if (expected.digest) opts.digest = expected.digest;
    if (expected.size !== undefined) opts.size = expected.size;
    const written = await streamToFile(stream, tmp, opts, signal, this.options.durable === true);
    const final = this.stagedPath(written.digest);
    if (this.staged.has(written.digest)) await fsp.rm(tmp, { force: true });
    else await fsp.rename(tmp, final);
    this.staged.set(written.digest, final);
    return { mediaType: expected.mediaType, digest: written.digest, size: written.size };
  }

  async putManifest(bytes: Buffer, mediaType: string, instance?: Digest): Promise<void> {
    const digest = digestOf(bytes);
    if (!this.staged.has(digest)) {
      await this.putBlob(Readable.from([bytes]), { digest, size: bytes.length, mediaType });
    }
    if (instance === undefined) this.top = { mediaType, digest, size: bytes.length };
  }

  async commit(): Promise<void> {
    if (!this.top) throw new WharfError('IO_ERROR', 'commit before a manifest was written');
    // 1. The marker first, so another writer opening this directory meanwhile sees a layout, never a bare
    //    blobs/; then the blobs, so a reader never sees index.json name a blob that is not there yet.
    if (!(await checkLayoutFile(this.root))) {
      await writeFileAtomic(join(this.root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    }
    const dirs = new Set<string>();
    for (const [digest, path] of this.staged) {
      const algDir = join(this.root, 'blobs', digestAlgorithm(digest));
      if (!dirs.has(algDir)) {
        await fsp.mkdir(algDir, { recursive: true });
        dirs.add(algDir);
      }
      const target = blobPath(this.root, digest);
      // Same digest, same bytes: an existing blob need not be replaced.
      if (!(await exists(target))) await fsp.rename(path, target);
    }
    for (const d of dirs) await fsyncDir(d);
    // 2. Then the index entry, under the layout's lock.
    const top = this.top;
    await withLock(join(this.root, INDEX_LOCK_NAME), async () => {
      const index: ImageIndex = (await readIndex(this.root, false)) ?? emptyIndex();
      index.manifests = index.manifests.filter((m) => {
        const name = m.annotations?.[REF_NAME_ANNOTATION];
        if (this.name !== undefined) return name !== this.name;
        return !(name === undefined && m.digest === top.digest);
      });
      const entry: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size };
      if (this.name !== undefined) entry.annotations = { [REF_NAME_ANNOTATION]: this.name };
      index.manifests.push(entry);
      await writeFileAtomic(join(this.root, 'index.json'), JSON.stringify(index));
    });
    await fsyncDir(this.root);
    this.committed = true;
  }

  async close(): Promise<void> {
    await fsp.rm(this.staging, { recursive: true, force: true });
    if (!this.committed && this.createdRoot) {
      // Only if nothing else wrote into it meanwhile (a concurrent copy into the same new layout).
      await fsp.rmdir(this.root).catch(() => {});
    }
  }

  private stagedPath(digest: Digest): string {
    return join(this.staging, `${digestAlgorithm(digest)}-${digestHex(digest)}`);
  }
}

/** What another wharf writer leaves in a new layout before its commit writes the oci-layout marker. */
function isInFlightEntry(name: string): boolean {
  return name.startsWith('.wharf-staging-') || name.endsWith('.wharf-tmp');
}
