#!/usr/bin/env node
// Installs what is missing and builds (tsc, then the bin bundle), so `npm start` and `npm test` work on a fresh clone.
// Plain JavaScript with no dependencies: it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`wharf: "${cmd} ${args.join(' ')}" failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`wharf needs Node.js 20 or newer; this is ${process.version}`);
  process.exit(1);
}
// Every package that package.json lists must be installed, not only the compiler: a pull that adds a dependency
// (or a devDependency a test loads) would otherwise leave this tree without it until someone runs npm by hand.
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const wanted = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})];
const missing = wanted.filter((name) => !existsSync(join(root, 'node_modules', ...name.split('/'), 'package.json')));
if (missing.length > 0 || !existsSync(join(root, 'node_modules', 'typescript', 'bin', 'tsc'))) {
  if (missing.length > 0) console.error(`wharf: not installed: ${missing.join(', ')}; installing`);
  run(npm, existsSync(join(root, 'package-lock.json')) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
}
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root]);
// The `wharf` bin is a bundle of the compiled modules (scripts/bundle.mjs says why).
run(process.execPath, [join(root, 'scripts', 'bundle.mjs')]);
