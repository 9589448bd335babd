#!/usr/bin/env node
// Runs the compiled test files with Node's own test runner. Extra arguments are passed to `node --test`
// (e.g. `npm test -- --test-name-pattern=oci`). A file list may be given after `--files`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const testDir = join(root, 'dist', 'test');
const args = process.argv.slice(2);
const filesAt = args.indexOf('--files');
const files =
  filesAt >= 0
    ? args.splice(filesAt).slice(1)
    : readdirSync(testDir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(testDir, f));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...args, ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
