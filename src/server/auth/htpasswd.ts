/**
 * Users and bcrypt password hashes from an htpasswd file, as Apache's `htpasswd -B` writes it.
 *
 * Only bcrypt is accepted, as CNCF distribution does: the other htpasswd formats (SHA-1, MD5-apr1, DES crypt,
 * plain text) are fast to brute-force, so a line in one of them is skipped with a warning rather than trusted.
 * Warnings name the line and the user, never any part of the hash, since they end up in logs.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { compare, hash as bcryptHash } from 'bcryptjs';
import { WharfError } from '../../errors.js';

/** The whole file is read into memory on every change, so it is capped: at ~65 bytes a line, 16 MiB is ~250,000 users. */
export const MAX_HTPASSWD_BYTES = 16 * 1024 * 1024;
/** A bcrypt line is ~65 bytes; anything near this is not an htpasswd line. */
export const MAX_HTPASSWD_LINE_BYTES = 4096;

/** `$2a$`, `$2b$`, `$2y$` (all the same algorithm for real passwords), cost 04–31, 22 salt + 31 hash characters. */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;
// C0 controls and DEL: a tab inside a line is as wrong as a NUL, and none of them belongs in a log line.
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface HtpasswdParseResult {
  /** user → bcrypt hash */
  entries: Map<string, string>;
  warnings: string[];
}

/** What a rejected hash is, in words: the warning must help the admin without quoting the hash itself. */
function describeHash(h: string): string {
  if (h === '') return 'an empty password field';
  if (h.startsWith('{SHA}')) return 'a SHA-1 hash (htpasswd -s)';
  if (h.startsWith('$apr1$')) return 'an MD5 hash (htpasswd -m, its old default)';
  if (h.startsWith('$1$')) return 'an MD5-crypt hash';
  if (h.startsWith('$5$')) return 'a SHA-256-crypt hash (htpasswd -2)';
  if (h.startsWith('$6$')) return 'a SHA-512-crypt hash (htpasswd -5)';
  if (h.startsWith('$2')) return 'a bcrypt hash of an unsupported variant, cost or length';
  if (/^[./0-9A-Za-z]{13}$/.test(h)) return 'a DES crypt hash (htpasswd -d) or a short plain-text password';
  return 'a plain-text password or an unknown hash format';
}

/** A user name quoted for a warning, or a placeholder when the name itself is unprintable. */
function who(user: string): string {
  return user !== '' && !CONTROL.test(user) && user.length <= 256 ? `user ${JSON.stringify(user)}` : 'a user';
}

/**
 * Parse htpasswd text. `where` (usually the file's path) prefixes every warning, with the 1-based line number.
 * Comments (`#`) and blank lines are ignored; a user listed twice keeps the later line, as distribution does.
 */
export function parseHtpasswd(text: string, where: string): HtpasswdParseResult {
  if (text.length > MAX_HTPASSWD_BYTES) {
    throw new WharfError('TOO_LARGE', `${where}: htpasswd file is larger than ${MAX_HTPASSWD_BYTES} bytes`, {
      hint: 'this is not an htpasswd file, or it holds far more users than wharf serve is meant for',
    });
  }
  const entries = new Map<string, string>();
  const warnings: string[] = [];
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length > MAX_HTPASSWD_LINE_BYTES || Buffer.byteLength(line) > MAX_HTPASSWD_LINE_BYTES) {
      warnings.push(`${where}:${n}: line is longer than ${MAX_HTPASSWD_LINE_BYTES} bytes; skipped`);
      continue;
    }
    line = line.replace(/^[ \t]+|[ \t]+$/g, '');
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (CONTROL.test(line)) {
      const user = colon > 0 ? who(line.slice(0, colon)) : 'the line';
      warnings.push(`${where}:${n}: ${user === 'the line' ? user : `the line of ${user}`} contains a control character; skipped`);
      continue;
    }
    if (colon < 0) {
      // The line could be a password pasted in by mistake: say nothing of its content.
      warnings.push(`${where}:${n}: no ":" between user name and password hash; skipped`);
      continue;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (user === '') {
      warnings.push(`${where}:${n}: the user name is empty; skipped`);
      continue;
    }
    if (!BCRYPT_HASH.test(hash)) {
      warnings.push(
        `${where}:${n}: ${who(user)} has ${describeHash(hash)}; only bcrypt is accepted, so this user cannot log in ` +
          `(set the password again with: htpasswd -B ${where} ${who(user) === 'a user' ? 'USER' : user}); skipped`,
      );
      continue;
    }
    if (entries.has(user)) warnings.push(`${where}:${n}: ${who(user)} is listed again; this later line wins`);
    entries.set(user, hash);
  }
  return { entries, warnings };
}

// ---------------------------------------------------------------------------------------------------------
// The file, watched and verified against

export interface PasswordFileOptions {
  /** How long a successful check is remembered, in ms (default 60 s; 0 turns the cache off). */
  cacheTtlMs?: number;
  /** Most users remembered at once (default 10,000); the least recently verified is forgotten first. */
  cacheMaxEntries?: number;
  /** Least time between two looks at the file's mtime and size, in ms (default 1 s). */
  reloadIntervalMs?: number;
  /** Clock in ms since the epoch (default Date.now); tests move it by hand. */
  now?: () => number;
  /** Called with each warning of each read of the file (bad lines, a file that went missing). */
  onWarning?: (message: string) => void;
}

export interface PasswordFileStats {
  /** bcrypt comparisons run, including the ones against the dummy hash for unknown users. */
  bcryptComparisons: number;
  cacheHits: number;
  /** Times the file was read (the first load included). */
  reads: number;
}

interface FileSignature {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function sameSignature(a: FileSignature | undefined, b: FileSignature): boolean {
  return !!a && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

interface CacheEntry {
  mac: Buffer;
  expires: number;
}

/** htpasswd -B's default cost, used for the dummy hash when the file has no users to copy a cost from. */
const DEFAULT_COST = 5;

async function readCapped(path: string): Promise<{ text: string; signature: FileSignature }> {
  const fh = await fsp.open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new WharfError('SERVER_CONFIG_INVALID', `${path}: htpasswd path is not a regular file`, {
        hint: 'point the server at the file htpasswd -B wrote',
      });
    }
    const chunks: Buffer[] = [];
    let total = 0;
    // Read to EOF rather than trusting the size from stat: the file may grow while it is read.
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_HTPASSWD_BYTES) {
        throw new WharfError('TOO_LARGE', `${path}: htpasswd file is larger than ${MAX_HTPASSWD_BYTES} bytes`, {
          hint: 'this is not an htpasswd file, or it holds far more users than wharf serve is meant for',
        });
      }
      chunks.push(chunk.subarray(0, bytesRead));
    }
    const signature = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
    return { text: Buffer.concat(chunks).toString('utf8'), signature };
  } finally {
    await fh.close();
  }
}

function readError(path: string, err: unknown): WharfError {
  if (err instanceof WharfError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') {
    return new WharfError('SERVER_CONFIG_INVALID', `${path}: htpasswd file does not exist`, {
      hint: `create it with: htpasswd -cB ${path} USER`,
      cause: err,
    });
  }
  return new WharfError('SERVER_CONFIG_INVALID', `${path}: cannot read the htpasswd file (${code ?? String(err)})`, {
    hint: 'check that the file exists and that the server may read it',
    cause: err,
  });
}

/** The most common cost among the hashes (ties: the higher), so that unknown users cost what most users do. */
function typicalCost(entries: Map<string, string>): number {
  const counts = new Map<number, number>();
  for (const h of entries.values()) {
    const cost = Number(h.slice(4, 6));
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = DEFAULT_COST;
  let bestCount = 0;
  for (const [cost, count] of counts) {
    if (count > bestCount || (count === bestCount && cost > best)) {
      best = cost;
      bestCount = count;
    }
  }
  return best;
}

/**
 * An htpasswd file to check Basic credentials against. The file is looked at again (mtime, size, inode) at
 * most once per `reloadIntervalMs` and re-read when it changed, so an admin can add or remove users without a
 * restart. A file that becomes unreadable denies everyone until it is readable again (and says so once).
 */
export class PasswordFile {
  readonly path: string;
  readonly #ttl: number;
  readonly #maxEntries: number;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #onWarning: (message: string) => void;
  /** Per-instance HMAC key: cache entries are worthless outside this process, and never hold a password. */
  readonly #macKey = randomBytes(32);
  readonly #cache = new Map<string, CacheEntry>();
  readonly #dummies = new Map<number, Promise<string>>();
  readonly #stats: PasswordFileStats = { bcryptComparisons: 0, cacheHits: 0, reads: 0 };
  #entries = new Map<string, string>();
  /** The cost of the dummy hash, worked out once per read: per request it would cost time only unknown users pay. */
  #dummyCost = DEFAULT_COST;
  #warnings: string[] = [];
  #signature: FileSignature | undefined;
  #lastCheck: number;
  #checking: Promise<void> | undefined;
  #lastFailure: string | undefined;

  private constructor(path: string, options: PasswordFileOptions) {
    this.path = path;
    this.#ttl = Math.max(0, options.cacheTtlMs ?? 60_000);
    this.#maxEntries = Math.max(1, options.cacheMaxEntries ?? 10_000);
    this.#interval = Math.max(0, options.reloadIntervalMs ?? 1_000);
    this.#now = options.now ?? Date.now;
    this.#onWarning = options.onWarning ?? (() => {});
    this.#lastCheck = this.#now();
  }

  /** Read the file once (failing if it cannot be read), then keep it fresh as `verify` is called. */
  static async load(path: string, options: PasswordFileOptions = {}): Promise<PasswordFile> {
    const file = new PasswordFile(path, options);
    let read;
    try {
      read = await readCapped(path);
    } catch (err) {
      throw readError(path, err);
    }
    file.#install(read.text, read.signature);
    return file;
  }

  #install(text: string, signature: FileSignature): void {
    const { entries, warnings } = parseHtpasswd(text, this.path);
    this.#stats.reads++;
    this.#entries = entries;
    this.#warnings = warnings;
    this.#signature = signature;
    this.#lastFailure = undefined;
    // A changed file may have changed passwords: nothing verified against the old one still counts.
    this.#cache.clear();
    for (const w of warnings) this.#onWarning(w);
    // Make the dummy hash now, so the first unknown user does not pay for its creation (and stand out).
    this.#dummyCost = typicalCost(entries);
    void this.#dummyHash(this.#dummyCost).catch(() => {});
  }

  async #check(): Promise<void> {
    try {
      const st = await fsp.stat(this.path);
      const sig = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
      if (sameSignature(this.#signature, sig)) return;
      const read = await readCapped(this.path);
      this.#install(read.text, read.signature);
    } catch (err) {
      // Fail closed: a file that was removed or broke should lock users out, not keep yesterday's passwords.
      this.#entries = new Map();
      this.#cache.clear();
      this.#signature = undefined;
      const message = `${readError(this.path, err).message}; every login is refused until it can be read`;
      if (message !== this.#lastFailure) this.#onWarning(message);
      this.#lastFailure = message;
    }
  }

  async #maybeReload(): Promise<void> {
    if (this.#checking) return this.#checking;
    const now = this.#now();
    if (now - this.#lastCheck < this.#interval) return;
    this.#lastCheck = now;
    this.#checking = this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  #dummyHash(cost: number): Promise<string> {
    let p = this.#dummies.get(cost);
    if (!p) {
      p = bcryptHash(randomBytes(24).toString('base64'), cost);
      p.catch(() => this.#dummies.delete(cost));
      this.#dummies.set(cost, p);
    }
    return p;
  }

  /** HMAC of user, password and the stored hash: a changed hash can never match an old cache entry. */
  #mac(user: string, password: string, hash: string): Buffer {
    const h = createHmac('sha256', this.#macKey);
    for (const part of [user, password, hash]) {
      const bytes = Buffer.from(part, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      h.update(len).update(bytes);
    }
    return h.digest();
  }

  #remember(user: string, mac: Buffer): void {
    if (this.#ttl === 0) return;
    this.#cache.delete(user);
    while (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
    this.#cache.set(user, { mac, expires: this.#now() + this.#ttl });
  }

  /**
   * Whether `password` is `user`'s. Runs one bcrypt comparison whether or not the user exists (against a dummy
   * hash of the file's usual cost for an unknown user), so the time taken does not tell which users exist.
   * A success is remembered for `cacheTtlMs` (bcrypt in JS costs tens of ms and clients send Basic
   * credentials with every request); a failure never is.
   */
  async verify(user: string, password: string): Promise<boolean> {
    if (typeof user !== 'string' || typeof password !== 'string') return false;
    await this.#maybeReload();
    const stored = this.#entries.get(user);
    if (stored !== undefined) {
      const hit = this.#cache.get(user);
      if (hit) {
        if (hit.expires <= this.#now()) {
          this.#cache.delete(user);
        } else if (timingSafeEqual(hit.mac, this.#mac(user, password, stored))) {
          this.#stats.cacheHits++;
          return true;
        }
      }
    }
    const hash = stored ?? (await this.#dummyHash(this.#dummyCost));
    this.#stats.bcryptComparisons++;
    let ok: boolean;
    try {
      ok = await compare(password, hash);
    } catch {
      ok = false;
    }
    if (!ok || stored === undefined) return false;
    // The file may have been re-read while bcrypt ran: remember the success only for the hash still in force.
    if (this.#entries.get(user) === stored) this.#remember(user, this.#mac(user, password, stored));
    return true;
  }

  /** Whether the user is (still) in the file, after the same freshness check `verify` does. */
  async hasUser(user: string): Promise<boolean> {
    await this.#maybeReload();
    return this.#entries.has(user);
  }

  /** The users of the last good read, sorted. */
  users(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** The warnings of the last good read. */
  warnings(): string[] {
    return [...this.#warnings];
  }

  stats(): PasswordFileStats {
    return { ...this.#stats };
  }
}

/** `PasswordFile.load`, as a function. */
export function loadPasswordFile(path: string, options: PasswordFileOptions = {}): Promise<PasswordFile> {
  return PasswordFile.load(path, options);
}
