/**
 * The layering of ../shared/DESIGN.md, enforced: each folder of src/ may import only the folders above it.
 * A new folder must be added here, which is the moment to decide where it sits.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** Top to bottom; every layer may import the ones listed for it. `*` means anything. */
const ALLOWED: Record<string, string[]> = {
  'errors.ts': [],
  digest: ['errors.ts'],
  util: ['errors.ts', 'digest'],
  reference: ['errors.ts', 'digest'],
  oci: ['errors.ts', 'digest'],
  archive: ['errors.ts', 'digest', 'oci', 'util'],
  config: ['errors.ts', 'util'],
  'registry-client': ['errors.ts', 'digest', 'oci', 'util'],
  image: ['errors.ts', 'digest', 'oci', 'archive', 'util'],
  transports: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'config', 'registry-client'],
  copy: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'transports'],
  inspect: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'transports'],
  history: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'transports'],
  sync: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'config', 'registry-client', 'transports', 'copy'],
  layer: ['errors.ts', 'digest', 'util', 'oci', 'archive', 'image'],
  // Operations over an image's filesystem (unpack, extract, diff, layers): layer/ over what transports give.
  filesystem: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'transports', 'inspect', 'history', 'copy', 'layer'],
  // Scanners (#6): packages, vulnerabilities, secrets, setuid, config lint over the files filesystem/ hands them;
  // the parsers and matchers below it import nothing of images at all.
  scan: ['errors.ts', 'digest', 'util', 'reference', 'oci', 'archive', 'image', 'transports', 'inspect', 'history', 'layer', 'filesystem'],
  // The registry server stands on the spec and storage alone: it never imports the client or the transports.
  server: ['errors.ts', 'digest', 'util', 'oci'],
  cli: ['*'],
  'index.ts': ['*'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  return relative(SRC, file).split(sep)[0]!;
}

test('imports follow the layering of DESIGN.md', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    if (!allowed) {
      violations.push(`${relative(SRC, file)}: folder "${from}" has no place in the layering table`);
      continue;
    }
    if (allowed.includes('*')) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), m[1]!);
      const to = layerOf(target.replace(/\.js$/, '.ts'));
      if (to !== from && !allowed.includes(to)) violations.push(`${relative(SRC, file)} imports ${to} (${m[1]})`);
    }
    if (from !== 'cli' && /process\.(env|cwd|stdout|stderr|stdin|argv)\b/.test(text)) {
      violations.push(`${relative(SRC, file)} reads process state, which only cli/ may do`);
    }
  }
  assert.deepEqual(violations, []);
});
