import { promises as fsp } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { digestOf, type Digest } from '../../digest/index.js';
import { LAYOUT_VERSION, REF_NAME_ANNOTATION, emptyIndex, readIndex } from '../../oci/layout.js';
import { MAX_MANIFEST_BYTES } from '../../oci/manifest.js';
import type { Descriptor } from '../../oci/types.js';
import { writeFileAtomic } from '../../util/fs.js';
import { manifestInfoFromStored } from './manifest-info.js';
import { isValidTag, validateRepositoryName } from './names.js';
import type { RegistryStore } from './store.js';

/** skopeo's and wharf's dir: transport writes this `version` file first. */
const DIR_VERSION_PREFIX = 'Directory Transport Version:';
const HEX = /^(?:[a-f0-9]{64}|[a-f0-9]{128})$/;
const CHILD = /^([a-f0-9]{64}|[a-f0-9]{128})\.manifest\.json$/;

export interface AdoptReport {
  /** dir: images now served, as `repository:tag` (or `repository@digest`). */
  adopted: string[];
  /** Folders that look like dir: images but cannot be served, and why. */
  skipped: string[];
}

interface DirImage {
  path: string;
  repository: string;
  tag?: string;
}

/**
 * Serve what `wharf sync --dest dir` (or `skopeo copy … dir:DIR/app:1`) wrote: each `REPO:TAG` (or `REPO@DIGEST`)
 * folder of dir: images becomes a tag of repository REPO, by giving REPO an OCI layout whose blobs are hard links
 * to the dir: images' files. Nothing is copied or rewritten; the dir: folders stay as they were. Run when the
 * server starts; an image whose tag the repository already has is left alone, so running it again does nothing.
 */
export async function adoptDirImages(store: RegistryStore): Promise<AdoptReport> {
  const report: AdoptReport = { adopted: [], skipped: [] };
  for (const image of await findDirImages(store.root, report)) {
    const label = `${image.repository}${image.tag !== undefined ? `:${image.tag}` : ''}`;
    try {
      const digest = await adoptOne(store, image);
      report.adopted.push(image.tag !== undefined ? label : `${label}@${digest}`);
    } catch (err) {
      report.skipped.push(`${relative(store.root, image.path)}: ${(err as Error).message}`);
    }
  }
  return report;
}

async function findDirImages(root: string, report: AdoptReport): Promise<DirImage[]> {
  const found: DirImage[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 32) return;
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
    if (entries.some((e) => e.name === 'oci-layout' && e.isFile())) return; // a layout: the store's own business
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const path = join(dir, e.name);
      const version = await fsp.readFile(join(path, 'version'), 'utf8').catch(() => undefined);
      if (version === undefined || !version.startsWith(DIR_VERSION_PREFIX)) {
        await walk(path, depth + 1);
        continue;
      }
      const rel = relative(root, path).split(sep).join('/');
      const m = /^(.+?)(?::([^:/@]+)|@[a-z0-9]+:[a-f0-9]+)$/.exec(rel);
      try {
        if (!m) throw new Error('its name is not REPOSITORY:TAG or REPOSITORY@DIGEST');
        validateRepositoryName(m[1]!);
        if (m[2] !== undefined && !isValidTag(m[2])) throw new Error(`"${m[2]}" is not a valid tag`);
        const image: DirImage = { path, repository: m[1]! };
        if (m[2] !== undefined) image.tag = m[2];
        found.push(image);
      } catch (err) {
        report.skipped.push(`${rel}: ${(err as Error).message}`);
      }
    }
  };
  await walk(root, 0);
  return found;
}

async function adoptOne(store: RegistryStore, image: DirImage): Promise<Digest> {
  const manifestPath = join(image.path, 'manifest.json');
  const st = await fsp.stat(manifestPath);
  if (st.size > MAX_MANIFEST_BYTES) throw new Error('its manifest.json is too large to be a manifest');
  const bytes = await fsp.readFile(manifestPath);
  const info = manifestInfoFromStored(bytes, undefined); // dir: keeps no media type: it is read from the JSON
  const digest = digestOf(bytes);
  const dir = store.repositoryDir(image.repository);
  await fsp.mkdir(join(dir, 'blobs'), { recursive: true });
  await store.locks.withRepository(dir, async () => {
    const index = (await readIndex(dir, false)) ?? emptyIndex();
    if (image.tag !== undefined ? index.manifests.some((m) => m.annotations?.[REF_NAME_ANNOTATION] === image.tag) : index.manifests.some((m) => m.digest === digest)) {
      return; // adopted before, or pushed since: what the repository says wins
    }
    // Blobs first, then the manifest, then the index entry: a reader never sees a name without its content.
    for (const name of await fsp.readdir(image.path)) {
      const child = CHILD.exec(name);
      const hex = child ? child[1]! : HEX.test(name) ? name : undefined;
      if (hex) await link(join(image.path, name), dir, hex);
    }
    await link(manifestPath, dir, digest.slice('sha256:'.length));
    if (!(await fsp.stat(join(dir, 'oci-layout')).catch(() => undefined))) {
      await writeFileAtomic(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    }
    const entry: Descriptor = { mediaType: info.mediaType, digest, size: bytes.length };
    if (image.tag !== undefined) entry.annotations = { [REF_NAME_ANNOTATION]: image.tag };
    index.manifests.push(entry);
    await store.writeIndex(image.repository, index);
  });
  return digest;
}

/** Hard-link a dir: image's file into the layout as blob `hex` (sha256 for 64 hex digits, sha512 for 128). */
async function link(from: string, layoutDir: string, hex: string): Promise<void> {
  const alg = hex.length === 128 ? 'sha512' : 'sha256';
  await fsp.mkdir(join(layoutDir, 'blobs', alg), { recursive: true });
  try {
    await fsp.link(from, join(layoutDir, 'blobs', alg, hex));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

