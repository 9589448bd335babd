/**
 * The planning half of sync: which images the source holds (listing registry tags where needed), and where
 * each one goes. Nothing here writes anything.
 *
 * Destination names follow skopeo: each source image has a name path (`reg.example/a/b/app:1` for a registry
 * image, the path below SOURCE for a `dir:` image); without --scoped only its last component is kept
 * (`app:1`); the result goes below the destination: `docker://DEST/app:1`, `dir:DEST/app:1`, and for oci one
 * layout per repository, `oci:DEST/app:1` (layout DEST/app, image name 1).
 */
import { promises as fsp, type Dirent } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { posix } from 'node:path';
import { loadTlsConfig } from '../config/index.js';
import { parseDigest, type Digest } from '../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../errors.js';
import { DockerReference, parseDockerReference, printable, splitNameTagDigest, validateTag } from '../reference/index.js';
import { DirReference } from '../transports/dir/index.js';
import { DockerImageReference, openClient, type RegistryAccess } from '../transports/docker/index.js';
import { OciLayoutReference, REF_NAME_ANNOTATION, readIndex, validateRefName } from '../transports/oci-layout/index.js';
import type { ImageReference, Logger } from '../transports/types.js';
import type { SyncFailure, SyncItem, SyncOptions } from './types.js';
import { MAX_SYNC_YAML_BYTES, parseSyncYaml, type SyncYamlRegistry } from './yaml.js';

/** A registry repository with more tags than this is refused (a hostile or broken registry). */
export const MAX_TAGS_PER_REPOSITORY = 100_000;
/** Limits of the walk through a source directory. */
const MAX_WALK_DEPTH = 32;
const MAX_WALK_ENTRIES = 200_000;

/** One image of the source, before its destination is known. */
export interface SourceImage {
  ref: ImageReference;
  /** skopeo's name path: `reg.example/a/b/app:1`, `sub/dir/app:1`, `app@sha256:…`. */
  namePath: string;
  /** Registry settings for reading it (YAML entries override the command line's). */
  access?: RegistryAccess;
}

export interface PlannedImage {
  item: SyncItem;
  src: ImageReference;
  dest: ImageReference;
  sourceAccess?: RegistryAccess;
}

export interface Plan {
  images: PlannedImage[];
  /** Repositories whose tags could not be listed (keepGoing only; otherwise the error is thrown). */
  failures: SyncFailure[];
}

interface Lister {
  /** For messages and failures: `docker://reg/repo`. */
  repository: string;
  run(signal: AbortSignal | undefined): Promise<SourceImage[]>;
}

/** Gather the source's images and their destinations. */
export async function makePlan(options: SyncOptions, onRepositoryFailure: (f: SyncFailure) => void): Promise<Plan> {
  const groups = await sourceGroups(options);
  const failures: SyncFailure[] = [];
  const results = await mapBounded(groups, parallelism(options), async (g) => (Array.isArray(g) ? g : g.run(options.signal)));
  const sources: SourceImage[] = [];
  for (let i = 0; i < groups.length; i++) {
    const r = results[i]!;
    if (r.ok) {
      sources.push(...r.value);
      continue;
    }
    const g = groups[i] as Lister;
    const error = asWharfError(r.error);
    if (options.signal?.aborted) throw new WharfError('ABORTED', 'sync aborted', { cause: options.signal.reason });
    if (!options.keepGoing) throw error;
    const failure = { item: { source: g.repository, destination: destinationLabel(options) }, error };
    failures.push(failure);
    onRepositoryFailure(failure);
  }

  const images: PlannedImage[] = [];
  const byDestination = new Map<string, PlannedImage>();
  for (const s of sources) {
    const dest = destinationFor(s.namePath, options, s.ref);
    const item: SyncItem = { source: s.ref.toString(), destination: dest.label };
    const existing = byDestination.get(dest.key);
    if (existing) {
      if (existing.item.source === item.source) continue; // listed twice (e.g. by tag and by regex): once is enough
      throw new WharfError('USAGE', `${existing.item.source} and ${item.source} would both be written to ${dest.label}`, {
        hint: options.scoped ? 'give the images distinct names' : 'use --scoped to keep the source registry and repository path in the destination names',
      });
    }
    const planned: PlannedImage = { item, src: s.ref, dest: dest.ref };
    if (s.access) planned.sourceAccess = s.access;
    byDestination.set(dest.key, planned);
    images.push(planned);
  }
  return { images, failures };
}

export function parallelism(options: SyncOptions): number {
  const n = options.parallel ?? 4;
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new WharfError('USAGE', `parallel must be a whole number from 1 to 256, not ${String(n)}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Sources

async function sourceGroups(options: SyncOptions): Promise<(SourceImage[] | Lister)[]> {
  const access = options.sourceRegistry ?? options.copy?.registry;
  switch (options.src) {
    case 'docker':
      return [await dockerSource(options.source, access, options.logger)];
    case 'dir':
      return [await dirSource(options.source)];
    case 'oci':
      return [await ociSource(options.source)];
    case 'yaml':
      return yamlSource(options, access);
    default:
      throw new WharfError('USAGE', `"${printable(String(options.src), 40)}" is not a sync source transport`, { hint: 'use docker, dir, oci or yaml' });
  }
}

/** `registry/repo` (every tag) or `registry/repo:tag|@digest` (one image). */
async function dockerSource(source: string, access: RegistryAccess | undefined, logger: Logger | undefined): Promise<SourceImage[] | Lister> {
  const text = source.startsWith('docker://') ? source.slice('docker://'.length) : source;
  const ref = parseDockerReference(text);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    return [registryImage(ref, access)];
  }
  return {
    repository: `docker://${ref.name()}`,
    async run(signal) {
      const tags = await listTags(ref, access ?? {}, logger, signal);
      if (tags.length === 0) {
        throw new NotFoundError('IMAGE_NOT_FOUND', `no images to sync found in ${ref.name()}: the repository has no tags`, {
          hint: 'check the repository name, or name one image with :TAG or @DIGEST',
        });
      }
      return tags.map((tag) => registryImage(ref.withTag(tag), access));
    },
  };
}

function registryImage(ref: DockerReference, access: RegistryAccess | undefined, digest?: Digest): SourceImage {
  const full = digest ? new DockerReference(ref.domain, ref.path, undefined, digest) : ref;
  const out: SourceImage = { ref: new DockerImageReference(full), namePath: full.toString() };
  if (access) out.access = access;
  return out;
}

/** A directory of `dir:` images (found at any depth, as skopeo walks it), or one `dir:` image. */
async function dirSource(source: string): Promise<SourceImage[]> {
  await mustBeDirectory(source, 'dir');
  if (await isFile(join(source, 'manifest.json'))) {
    return [{ ref: new DirReference(source), namePath: baseName(source) }];
  }
  const found = await walk(source, async (dir, names) => names.has('manifest.json') && (await isFile(join(dir, 'manifest.json'))));
  if (found.length === 0) {
    throw new NotFoundError('IMAGE_NOT_FOUND', `no images to sync found in ${source}`, {
      hint: 'a dir: image is a directory holding manifest.json and version; sync --dest dir writes one per image',
    });
  }
  return found.map((dir) => ({ ref: new DirReference(dir), namePath: toPosix(relative(source, dir)) }));
}

/** An OCI layout (each image named in index.json), or a directory of layouts (as sync --dest oci writes). */
async function ociSource(source: string): Promise<SourceImage[]> {
  await mustBeDirectory(source, 'oci');
  const layouts = (await isFile(join(source, 'index.json')))
    ? [{ dir: source, name: baseName(source) }]
    : (await walk(source, async (dir, names) => names.has('index.json') && names.has('oci-layout') && (await isFile(join(dir, 'index.json'))))).map((dir) => ({
        dir,
        name: toPosix(relative(source, dir)),
      }));
  const out: SourceImage[] = [];
  for (const layout of layouts) {
    const index = (await readIndex(resolve(layout.dir), true))!;
    const seen = new Set<string>();
    for (const desc of index.manifests) {
      const refName = desc.annotations?.[REF_NAME_ANNOTATION];
      if (refName === undefined || seen.has(refName)) continue;
      seen.add(refName);
      validateRefName(refName, `${REF_NAME_ANNOTATION} in ${join(layout.dir, 'index.json')}`);
      out.push({ ref: new OciLayoutReference(layout.dir, refName), namePath: ociNamePath(layout.name, refName) });
    }
  }
  if (out.length === 0) {
    throw new NotFoundError('IMAGE_NOT_FOUND', `no images to sync found in ${source}`, {
      hint: `sync reads the images index.json names (the ${REF_NAME_ANNOTATION} annotation); unnamed images are skipped`,
    });
  }
  return out;
}

/**
 * A layout written by sync --dest oci is one repository whose image names are tags: the name path is the
 * layout's own path plus the tag. A name that is a whole reference (`docker.io/library/busybox:latest`, as
 * other tools write) is used as it is, as skopeo does.
 */
function ociNamePath(layoutName: string, refName: string): string {
  if (isDigest(refName)) return `${layoutName}@${refName}`;
  if (/^[\w][\w.-]{0,127}$/.test(refName)) return `${layoutName}:${refName}`;
  return refName;
}

/** skopeo's YAML: every registry's images, tag lists, tag regexes and semver constraints. */
async function yamlSource(options: SyncOptions, base: RegistryAccess | undefined): Promise<(SourceImage[] | Lister)[]> {
  const bytes = await readYaml(options);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WharfError('USAGE', `${options.source}: not UTF-8 text`);
  }
  const yaml = parseSyncYaml(text, options.source);
  const groups: (SourceImage[] | Lister)[] = [];
  const tagCache = new Map<string, Promise<string[]>>();
  for (const reg of yaml.registries) {
    const access = registryAccessFor(reg, base);
    if (reg.images.length === 0 && reg.imagesByTagRegex.length === 0 && reg.imagesBySemver.length === 0) {
      options.logger?.warn(`${options.source}: no images specified for registry ${reg.name}`);
      continue;
    }
    const tagsOf = (repo: DockerReference, signal: AbortSignal | undefined): Promise<string[]> => {
      const key = `${reg.name}\n${repo.name()}`;
      let p = tagCache.get(key);
      if (!p) {
        p = listTags(repo, access, options.logger, signal);
        tagCache.set(key, p);
      }
      return p;
    };
    const lister = (repo: DockerReference, what: string, filter: (tag: string) => boolean): Lister => ({
      repository: `docker://${repo.name()}`,
      async run(signal) {
        const tags = (await tagsOf(repo, signal)).filter(filter);
        if (tags.length === 0) options.logger?.warn(`${options.source}: no tags of ${repo.name()} match ${what}`);
        return tags.map((tag) => registryImage(repo.withTag(tag), access));
      },
    });
    for (const img of reg.images) {
      if (img.tags.length === 0 && img.digests.length === 0) {
        groups.push(lister(img.repository, 'any tag', () => true));
        continue;
      }
      groups.push([
        ...img.tags.map((tag) => registryImage(img.repository.withTag(tag), access)),
        ...img.digests.map((digest) => registryImage(img.repository, access, digest)),
      ]);
    }
    for (const r of reg.imagesByTagRegex) {
      groups.push(lister(r.repository, `the regular expression ${JSON.stringify(r.pattern)}`, (tag) => r.regex.test(tag)));
    }
    for (const s of reg.imagesBySemver) {
      groups.push(lister(s.repository, `the semver constraint ${JSON.stringify(s.constraint.text)}`, (tag) => s.constraint.matchesTag(tag)));
    }
  }
  return groups;
}

async function readYaml(options: SyncOptions): Promise<Buffer> {
  const path = options.source;
  let bytes: Buffer;
  try {
    if (options.readFile) {
      bytes = await options.readFile(path);
    } else {
      const st = await fsp.stat(path);
      if (!st.isFile()) throw new WharfError('USAGE', `${path} is not a file`, { hint: '--src yaml takes the path of a sync YAML file' });
      if (st.size > MAX_SYNC_YAML_BYTES) throw tooLarge(path);
      bytes = await fsp.readFile(path);
    }
  } catch (err) {
    if (err instanceof WharfError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new WharfError('USAGE', `${path}: no such file`, { hint: '--src yaml takes the path of a sync YAML file', cause: err });
    }
    throw asWharfError(err, 'IO_ERROR', `reading ${path}`);
  }
  if (bytes.length > MAX_SYNC_YAML_BYTES) throw tooLarge(path);
  return bytes;
}

function tooLarge(path: string): WharfError {
  return new WharfError('TOO_LARGE', `${path} is larger than ${MAX_SYNC_YAML_BYTES} bytes`, {
    hint: 'a sync YAML lists registries and repositories; split a file this large',
  });
}

/** The command line's registry settings, with a YAML registry's credentials, tls-verify and cert-dir on top. */
export function registryAccessFor(reg: SyncYamlRegistry, base: RegistryAccess | undefined): RegistryAccess {
  const out: RegistryAccess = { ...(base ?? {}) };
  if (reg.credentials) {
    const creds = { ...reg.credentials };
    out.credentials = async () => creds;
    delete out.registryToken;
  }
  if (reg.tlsVerify !== undefined) out.tlsVerify = reg.tlsVerify;
  if (reg.certDir !== undefined) {
    const dir = reg.certDir;
    out.tlsFiles = () => loadTlsConfig([dir]);
  }
  return out;
}

/** Every tag of a repository, from the registry (following pagination); tags that are not valid are skipped. */
export async function listTags(repo: DockerReference, access: RegistryAccess, logger: Logger | undefined, signal: AbortSignal | undefined): Promise<string[]> {
  let domain = repo.domain;
  let path = repo.path;
  let insecure = false;
  if (access.registries) {
    // As for pushes: the primary location of the matching [[registry]] (tags are not read from mirrors).
    const primary = access.registries.pullSources({ domain, path }).at(-1)!;
    domain = primary.rewrittenRef.domain;
    path = primary.rewrittenRef.path;
    insecure = primary.insecure;
  }
  const client = await openClient(access, domain, path, insecure, logger, signal);
  const tags: string[] = [];
  const seen = new Set<string>();
  try {
    for await (const tag of client.listTags(path, signal)) {
      if (seen.has(tag)) continue;
      seen.add(tag);
      try {
        validateTag(tag);
      } catch {
        logger?.warn(`${repo.name()}: skipping the tag ${JSON.stringify(printable(String(tag), 60))} the registry listed: it is not a valid tag`);
        continue;
      }
      tags.push(tag);
      if (tags.length > MAX_TAGS_PER_REPOSITORY) {
        throw new WharfError('TOO_LARGE', `${repo.name()} has more than ${MAX_TAGS_PER_REPOSITORY} tags`, {
          hint: 'select the tags to sync in a YAML file (images-by-tag-regex or images-by-semver)',
        });
      }
    }
  } catch (err) {
    const e = asWharfError(err, 'REGISTRY_ERROR');
    if (e.message.includes(repo.name()) || e.message.includes(path)) throw e;
    throw new WharfError(e.code, `listing the tags of ${repo.name()}: ${e.message}`, { hint: e.hint, cause: err, retryable: e.retryable });
  } finally {
    client.close();
  }
  return tags;
}

// ---------------------------------------------------------------------------------------------------------
// Destinations

interface Destination {
  ref: ImageReference;
  /** What SyncItem.destination shows. */
  label: string;
  /** Two images with the same key would overwrite each other. */
  key: string;
}

/** Where a source image with this name path goes. */
export function destinationFor(namePath: string, options: SyncOptions, src?: ImageReference): Destination {
  const what = src ? src.toString() : namePath;
  // A source with both a tag and a digest keeps the tag at the destination.
  const split = splitNameTagDigest(options.scoped ? namePath.replace(/^\/+/, '') : posix.basename(namePath));
  const path = split.name;
  let tag = split.tag;
  const digest = tag === undefined ? split.digest : undefined;
  if (path === '' || path.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new WharfError('INVALID_REFERENCE', `${what}: cannot make a destination name from ${JSON.stringify(printable(namePath, 100))}`);
  }
  if (options.appendSuffix) {
    if (digest !== undefined) {
      throw new WharfError('USAGE', `--append-suffix cannot be applied to ${what}: it is named by digest, not by tag`, {
        hint: 'sync images named by tag, or leave out --append-suffix',
      });
    }
    tag = `${tag ?? 'latest'}${options.appendSuffix}`;
  }
  const destination = options.destination;
  switch (options.dest) {
    case 'docker': {
      const prefix = destination.startsWith('docker://') ? destination.slice('docker://'.length) : destination;
      const text = `${posix.join(prefix, path)}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
      let ref: DockerReference;
      try {
        ref = parseDockerReference(text);
      } catch (err) {
        const e = err as WharfError;
        throw new WharfError('INVALID_REFERENCE', `${what} cannot be written to the registry as ${printable(text, 200)}: ${e.message}`, {
          hint: e.hint ?? 'registry repository names are lowercase letters, digits and . _ - separators',
          cause: err,
        });
      }
      const dref = new DockerImageReference(ref);
      return { ref: dref, label: dref.toString(), key: `docker://${ref.tagNameOnly().toString()}` };
    }
    case 'dir': {
      const dir = join(destination, ...path.split('/')) + (tag !== undefined ? `:${tag}` : digest !== undefined ? `@${digest}` : '');
      checkInside(destination, dir, what);
      const ref = new DirReference(dir);
      return { ref, label: ref.toString(), key: `dir:${resolve(dir)}` };
    }
    case 'oci': {
      const layout = join(destination, ...path.split('/'));
      checkInside(destination, layout, what);
      const name = tag ?? digest ?? 'latest';
      try {
        validateRefName(name, `${what}`);
      } catch (err) {
        throw new WharfError('INVALID_REFERENCE', `${what}: ${JSON.stringify(printable(name, 100))} cannot name an image in an OCI layout`, { cause: err });
      }
      const ref = new OciLayoutReference(layout, name);
      return { ref, label: ref.toString(), key: `oci:${resolve(layout)}\n${name}` };
    }
    default:
      throw new WharfError('USAGE', `"${printable(String(options.dest), 40)}" is not a sync destination transport`, { hint: 'use docker, dir or oci' });
  }
}

/** What a failure that has no single destination image shows: the destination prefix. */
function destinationLabel(options: SyncOptions): string {
  if (options.dest === 'docker') return `docker://${options.destination.replace(/^docker:\/\//, '')}`;
  return `${options.dest}:${options.destination}`;
}

function checkInside(root: string, path: string, what: string): void {
  const rel = relative(resolve(root), resolve(path));
  if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) {
    throw new WharfError('INVALID_REFERENCE', `${what}: its destination ${printable(path, 200)} is not inside ${printable(root, 200)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isFile();
  } catch {
    return false;
  }
}

async function mustBeDirectory(path: string, transport: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await fsp.stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError('IMAGE_NOT_FOUND', `invalid source directory ${path}: it does not exist`, { cause: err });
    }
    throw asWharfError(err, 'IO_ERROR', `reading ${path}`);
  }
  if (!isDir) {
    throw new WharfError('USAGE', `invalid source directory ${path}: not a directory`, {
      hint: transport === 'oci' ? '--src oci takes an OCI layout directory' : '--src dir takes a directory of dir: images',
    });
  }
}

/** The last path component of a directory given by the user (`/media/usb/busybox:1/` → `busybox:1`). */
function baseName(path: string): string {
  const b = basename(resolve(path));
  return b === '' ? 'image' : b;
}

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

/** Whether wharf left this entry behind while writing (a dir: staging or backup directory). */
function isInFlight(name: string): boolean {
  return /\.wharf-[0-9a-f]+\.(?:staging|old)$/.test(name) || name.startsWith('.wharf-staging-');
}

/**
 * Depth-first, in name order (as Go's filepath.WalkDir): directories for which `isImage` holds are reported
 * and not entered; symbolic links are not followed.
 */
async function walk(root: string, isImage: (dir: string, names: Set<string>) => Promise<boolean>): Promise<string[]> {
  const found: string[] = [];
  let entries = 0;
  const visit = async (dir: string, depth: number): Promise<void> => {
    let list: Dirent[];
    try {
      list = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `reading ${dir}`);
    }
    entries += list.length;
    if (entries > MAX_WALK_ENTRIES) {
      throw new WharfError('TOO_LARGE', `${root} holds more than ${MAX_WALK_ENTRIES} entries`, { hint: 'point the source at the directory that holds the images' });
    }
    const names = new Set(list.map((d) => d.name));
    if (dir !== root && (await isImage(dir, names))) {
      found.push(dir);
      return;
    }
    if (depth >= MAX_WALK_DEPTH) return;
    const subdirs = list.filter((d) => d.isDirectory() && !isInFlight(d.name)).map((d) => d.name).sort();
    for (const name of subdirs) await visit(join(dir, name), depth + 1);
  };
  await visit(root, 0);
  return found;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Run `fn` over items with at most `limit` at once; results in input order, failures included. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<Settled<R>[]> {
  const out: Settled<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await fn(items[i]!) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
