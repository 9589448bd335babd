/**
 * Which layer installed each package (trivy's `Layer` on a package): from the history of the package database
 * files that image-files.ts keeps (every layer's version of each), the earliest layer L such that the package,
 * at the same name, version and arch, is in the database as it stood after L and after every later layer that
 * changed the database, up to the final one. So a package upgraded in a later layer, or removed and installed
 * again, is attributed to the layer its current version came in; one a later `apt-get install` only rewrote the
 * status file around stays with the layer that first installed it.
 *
 * A database is what its package manager reads as one: for dpkg `var/lib/dpkg/status` together with the files
 * of `var/lib/dpkg/status.d/` (a package that moves between them is still installed), for rpm its database
 * files, for everything else (apk, npm lockfiles and package.json, Python METADATA) the file itself.
 *
 * Cheap when nothing changed: a database only one layer wrote is never parsed again, and any earlier version
 * is parsed at most once, and only when the walk back from the final version reaches it.
 */
import { catalogKind, type CatalogFile, type Package } from './catalog/index.js';
import type { PackageLayer } from './catalog/types.js';
import type { FileVersion } from './image-files.js';
import { isRpmDatabasePath } from './rpmdb/index.js';

/** A layer's ids, 0-based in manifest order. */
export interface LayerIds {
  digest: string;
  diffID?: string;
}

/**
 * The packages in one version of a database, parsed with the scanner's own parsers. Warnings are not asked for:
 * an earlier version's problems are not in the filesystem the user runs, and the final version's own are
 * already reported by the scan, so forwarding them would only repeat or mislead.
 */
export interface DatabaseReaders {
  /** Files of the cataloguer's kinds (catalog/index.ts). */
  catalog(files: CatalogFile[]): readonly Package[];
  /** The rpm database files as they stood together; may throw for a version that cannot be read. */
  rpm(files: CatalogFile[]): Promise<readonly Package[]>;
}

/** The identity of a package for "the same package at the same version": the purl would also carry the OS. */
function keyOf(p: Pick<Package, 'type' | 'name' | 'version' | 'arch'>): string {
  return `${p.type}\u0000${p.name}\u0000${p.version}\u0000${p.arch ?? ''}`;
}

function databaseOf(path: string): string {
  if (isRpmDatabasePath(path)) return 'rpm';
  const kind = catalogKind(path)?.kind;
  return kind === 'dpkg-status' || kind === 'dpkg-status.d' ? 'dpkg' : `file ${path}`;
}

/** One database: its files' histories and, parsed on demand, what it held after each layer that changed it. */
class Database {
  readonly members: [string, readonly FileVersion[]][] = [];
  /** The 1-based layers that changed any of its files, ascending. */
  changes: number[] = [];
  /** rpm: package keys by layer; the others: by "layer path" of one file's version. */
  private readonly parsed = new Map<string, Promise<Set<string>>>();

  constructor(
    private readonly rpm: boolean,
    private readonly readers: DatabaseReaders,
  ) {}

  finish(): void {
    this.changes = [...new Set(this.members.flatMap(([, list]) => list.map((v) => v.layer)))].sort((a, b) => a - b);
  }

  /** Whether the database held the package after `layer`. */
  async holds(key: string, layer: number): Promise<boolean> {
    const current: { file: CatalogFile; since: number }[] = [];
    for (const [path, list] of this.members) {
      const v = versionAt(list, layer);
      if (v?.data) current.push({ file: { path, data: v.data }, since: v.layer });
    }
    // rpm reads its files together (a WAL beside its SQLite file); dpkg's files are each a list of packages,
    // parsed once per version however many states of the database include that version.
    if (this.rpm) return (await this.keys(`${layer}`, () => this.readers.rpm(current.map((c) => c.file)))).has(key);
    for (const { file, since } of current) {
      if ((await this.keys(`${since} ${file.path}`, () => this.readers.catalog([file]))).has(key)) return true;
    }
    return false;
  }

  private keys(id: string, read: () => readonly Package[] | Promise<readonly Package[]>): Promise<Set<string>> {
    let p = this.parsed.get(id);
    if (!p) {
      // A version that cannot be read holds nothing we know of: the package is then given to a later layer,
      // which is where the scan can last see it.
      p = Promise.resolve()
        .then(read)
        .then(
          (pkgs) => new Set(pkgs.map(keyOf)),
          () => new Set<string>(),
        );
      this.parsed.set(id, p);
    }
    return p;
  }
}

/** The version of a file the filesystem showed after `layer` (1-based), if any layer up to it wrote one. */
function versionAt(list: readonly FileVersion[], layer: number): FileVersion | undefined {
  let found: FileVersion | undefined;
  for (const v of list) {
    if (v.layer > layer) break;
    found = v;
  }
  return found;
}

/**
 * Set `layer` on each package (see the module comment), in place. `versions` is ImageFiles.versions; `layers`
 * the image's layers, base first. A package whose file has no history (handed in from elsewhere) is left as it is.
 */
export async function attributeLayers(packages: readonly Package[], versions: ReadonlyMap<string, readonly FileVersion[]>, layers: readonly LayerIds[], readers: DatabaseReaders): Promise<void> {
  const databases = new Map<string, Database>();
  for (const [path, list] of versions) {
    const id = databaseOf(path);
    let db = databases.get(id);
    if (!db) databases.set(id, (db = new Database(id === 'rpm', readers)));
    db.members.push([path, list]);
  }
  for (const db of databases.values()) db.finish();
  const ref = (layer: number): PackageLayer => {
    const ids = layers[layer - 1];
    const out: PackageLayer = { index: layer, digest: ids?.digest ?? '' };
    if (ids?.diffID) out.diffID = ids.diffID;
    return out;
  };
  for (const pkg of packages) {
    const db = databases.get(databaseOf(pkg.path));
    if (!db || db.changes.length === 0) continue;
    // The package is in the final version (it was catalogued from it): walk back while the earlier one has it.
    const key = keyOf(pkg);
    let i = db.changes.length - 1;
    while (i > 0 && (await db.holds(key, db.changes[i - 1]!))) i--;
    pkg.layer = ref(db.changes[i]!);
  }
}
