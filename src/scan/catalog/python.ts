/**
 * Python distributions installed in site-packages: the core metadata of `NAME-VER.dist-info/METADATA`
 * (wheels, pip) and `NAME-VER.egg-info/PKG-INFO` or a `NAME-VER.egg-info` file (setuptools, distutils). The
 * format is email headers (RFC 822): `Name:` and `Version:` until the first blank line; the body is the
 * description and is not read.
 */
import { normalizePypiName, packageUrl } from './purl.js';
import { lines } from './stanza.js';
import type { Package, WarningHandler } from './types.js';
import { isPlausibleVersion, isPythonName, plausibleLicense } from './validate.js';
import { FileWarnings, quote } from './warnings.js';

export interface PythonOptions {
  path?: string;
  onWarning?: WarningHandler;
}

/** Headers past this many bytes are not read (real ones, with dozens of Requires-Dist, are a few KiB). */
export const MAX_METADATA_HEADERS = 1 << 20;

/** Header fields, names lowercased; continuation lines (leading whitespace) extend the previous one. */
function headers(data: Buffer, w: FileWarnings): Map<string, string> {
  let end = data.indexOf('\n\n');
  const crlf = data.indexOf('\r\n\r\n');
  if (crlf >= 0 && (end < 0 || crlf < end)) end = crlf;
  if (end < 0) end = data.length;
  if (end > MAX_METADATA_HEADERS) {
    w.warn(`headers longer than ${MAX_METADATA_HEADERS} bytes; only the first read`);
    end = MAX_METADATA_HEADERS;
  }
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of lines(data.toString('utf8', 0, end))) {
    if (line.includes('\u0000')) {
      w.warn('a line with NUL bytes dropped');
      current = undefined;
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && current !== undefined) {
      out.set(current, `${out.get(current)!}\n${line.trim()}`);
      continue;
    }
    const m = /^([!-9;-~]+):(.*)$/s.exec(line);
    if (!m) {
      current = undefined;
      continue;
    }
    current = m[1]!.toLowerCase();
    if (out.has(current)) current = undefined; // repeated fields (Classifier, Requires-Dist) are not needed
    else out.set(current, m[2]!.trim());
  }
  return out;
}

/** One installed distribution, or undefined with a warning. Its name is PEP 503-normalised. */
export function parsePythonMetadata(data: Buffer, opts: PythonOptions = {}): Package | undefined {
  const path = opts.path ?? 'METADATA';
  const w = new FileWarnings(path, opts.onWarning);
  const h = headers(data, w);
  const name = h.get('name');
  const version = h.get('version');
  let pkg: Package | undefined;
  if (!name) w.warn('no Name header; skipped');
  else if (!isPythonName(name)) w.warn(`Name ${quote(name)} is not a valid distribution name; skipped`);
  else if (!version) w.warn(`${name}: no Version header; skipped`);
  else if (!isPlausibleVersion(version)) w.warn(`${name}: Version ${quote(version)} is not a valid version; skipped`);
  else {
    pkg = { type: 'pypi', name: normalizePypiName(name), version, path, purl: '' };
    const license = plausibleLicense(h.get('license-expression')) ?? plausibleLicense(h.get('license'));
    if (license && license.toUpperCase() !== 'UNKNOWN') pkg.licenses = [license];
    pkg.purl = packageUrl(pkg);
  }
  w.finish();
  return pkg;
}
