#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js) into dist/bin/wharf.js, the `wharf` bin.
//
// Why: Node's ESM loader resolves, reads and links each module on its own. wharf's ~190 modules cost about
// 0.2 s of start-up before any work, which is most of the time of a short command (a copy of a small image,
// a re-push that is one HEAD). One bundle, with the lazily imported parts (scan, the server, YAML sync) as
// chunks of their own, starts in about half that. See docs/BENCHMARKS.md, "Start-up".
//
// The version is compiled in (`__WHARF_VERSION__`, see src/index.ts): the library reads package.json relative
// to its own file, which a chunk of the bundle is not. npm dependencies stay external: they load from
// node_modules as they do for the library.
import { build } from 'esbuild';
import { chmodSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bin');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { wharf: join(root, 'dist', 'src', 'cli', 'main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies ?? {}),
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  define: { __WHARF_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});
chmodSync(join(outdir, 'wharf.js'), 0o755);
