/**
 * containers-certs.d(5): per-registry TLS files in a directory named after the registry's `host[:port]`.
 *
 *   /etc/containers/certs.d/my-registry.example.com:5000/
 *     ca.crt          CA certificates that may sign the registry's certificate (every *.crt)
 *     client.cert     a client certificate …
 *     client.key      … and its key (the pair is matched by name: NAME.cert + NAME.key)
 *
 * As in containers/image, only the first directory that exists is used (the directories are alternatives, not
 * layers); a `.cert` without its `.key`, or a `.key` without its `.cert`, is an error; other files are ignored.
 * The CAs are in addition to the system's trusted roots, not instead of them.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../errors.js';
import { readCapped } from './files.js';
import { isDomain, printable } from './names.js';

export interface CertDirOptions {
  /** --cert-dir: when given, the only directory used. */
  explicitCertDir?: string | undefined;
  HOME?: string | undefined;
}

export interface TlsFiles {
  /** Extra CA certificates (PEM), one Buffer per .crt file, in file-name order. */
  ca: Buffer[];
  /** The client certificate and key (PEM), when the directory has a NAME.cert + NAME.key pair. */
  cert?: Buffer;
  key?: Buffer;
  /** The directory the files came from, if one existed. */
  dir?: string;
}

const MAX_FILES = 1000;

/**
 * The directories to look in for `hostPort` (`registry.example.com:5000`), in order: `explicitCertDir` alone if
 * given, else `~/.config/containers/certs.d/HOST:PORT`, `/etc/containers/certs.d/HOST:PORT`,
 * `/etc/docker/certs.d/HOST:PORT`.
 */
export function certDirCandidates(hostPort: string, options: CertDirOptions = {}): string[] {
  if (options.explicitCertDir) return [options.explicitCertDir];
  // The name becomes a path component: it must be a host[:port] and nothing else (no "/", no "..").
  if (!isDomain(hostPort)) {
    throw new WharfError('USAGE', `${JSON.stringify(printable(hostPort, 300))} is not a registry host[:port]`, {
      hint: 'certs.d directories are named after the registry, e.g. registry.example.com:5000',
    });
  }
  const out: string[] = [];
  if (options.HOME) out.push(join(options.HOME, '.config', 'containers', 'certs.d', hostPort));
  out.push(join('/etc/containers/certs.d', hostPort), join('/etc/docker/certs.d', hostPort));
  return out;
}

async function firstExistingDir(dirs: readonly string[]): Promise<{ dir: string; names: string[] } | undefined> {
  for (const dir of dirs) {
    try {
      const names = await fsp.readdir(dir);
      return { dir, names };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Missing, not a directory, or not ours to read: try the next, as containers/image does.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM') continue;
      throw new WharfError('IO_ERROR', `reading certificate directory ${dir}: ${code ?? String(err)}`);
    }
  }
  return undefined;
}

function certError(dir: string, what: string): WharfError {
  return new WharfError('CERTS_INVALID', `${dir}: ${what}`, {
    hint: 'see containers-certs.d(5): *.crt are CA certificates, NAME.cert + NAME.key a client certificate and its key',
  });
}

/** Read a regular file; undefined for one that vanished or is not a regular file (a dangling link, a directory). */
async function readTlsFile(path: string): Promise<Buffer | undefined> {
  try {
    const st = await fsp.stat(path);
    if (!st.isFile()) return undefined;
  } catch {
    return undefined;
  }
  return readCapped(path, 'certificate file');
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;

/** Load the TLS files of the first directory in `dirs` that exists. */
export async function loadTlsConfig(dirs: readonly string[]): Promise<TlsFiles> {
  const found = await firstExistingDir(dirs);
  if (!found) return { ca: [] };
  const { dir } = found;
  if (found.names.length > MAX_FILES) throw certError(dir, `more than ${MAX_FILES} entries`);
  const names = found.names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const present = new Set(names);
  const out: TlsFiles = { ca: [], dir };

  for (const name of names) {
    if (name.endsWith('.cert') && !present.has(`${name.slice(0, -5)}.key`)) {
      throw certError(dir, `client certificate ${name} has no key ${name.slice(0, -5)}.key (CA certificates use the extension .crt)`);
    }
    if (name.endsWith('.key') && !present.has(`${name.slice(0, -4)}.cert`)) {
      throw certError(dir, `key ${name} has no client certificate ${name.slice(0, -4)}.cert`);
    }
  }

  for (const name of names) {
    if (name.endsWith('.crt')) {
      const data = await readTlsFile(join(dir, name));
      if (data === undefined) continue;
      if (!PEM_CERT.test(data.toString('latin1'))) throw certError(dir, `${name} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
      out.ca.push(data);
    } else if (name.endsWith('.cert') && out.cert === undefined) {
      // Several pairs: the first by name is used.
      const keyName = `${name.slice(0, -5)}.key`;
      const cert = await readTlsFile(join(dir, name));
      const key = await readTlsFile(join(dir, keyName));
      if (cert === undefined || key === undefined) {
        throw certError(dir, `${cert === undefined ? name : keyName} cannot be read as a regular file`);
      }
      checkPair(dir, name, cert, keyName, key);
      out.cert = cert;
      out.key = key;
    }
  }
  return out;
}

/** Fail early, naming the files, rather than with an opaque TLS error at the first connection. */
function checkPair(dir: string, certName: string, cert: Buffer, keyName: string, key: Buffer): void {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw certError(dir, `${certName} is not a PEM certificate`);
  }
  let pk;
  try {
    pk = createPrivateKey(key);
  } catch {
    // Never quote the key.
    throw certError(dir, `${keyName} is not an unencrypted PEM private key`);
  }
  if (!x509.checkPrivateKey(pk)) throw certError(dir, `${keyName} is not the key of the certificate in ${certName}`);
}
