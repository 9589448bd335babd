#!/usr/bin/env node
// `npm run demo`: a short, real session with the wharf CLI. It builds a tiny two-layer image (no network, no
// daemon), then inspects it and copies it between transports, printing each command and what it printed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDemoLayout } from './demo-image.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'bin', 'wharf.js');

const work = mkdtempSync(join(tmpdir(), 'wharf-demo-'));
const layout = join(work, 'layout');
await writeDemoLayout(root, layout);

function wharf(...args) {
  const shown = args.map((a) => a.replaceAll(work, '$DEMO')).join(' ');
  process.stdout.write(`\n$ wharf ${shown}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: 'utf8' });
  process.stdout.write((r.stdout + r.stderr).replaceAll(work, '$DEMO'));
  if (r.status !== 0) process.stdout.write(`(exit code ${r.status})\n`);
  return r.status;
}

console.log(`wharf demo: a two-layer image in an OCI layout at $DEMO/layout ($DEMO is ${work})`);
wharf('--version');
wharf('inspect', 'oci:layout:hello');
wharf('inspect', '--format', 'table', 'oci:layout:hello');
wharf('copy', 'oci:layout:hello', 'docker-archive:hello.tar:demo/hello:latest');
wharf('inspect', 'docker-archive:hello.tar');
wharf('copy', '--format', 'v2s2', 'docker-archive:hello.tar', 'dir:hello-dir');
wharf('manifest-digest', 'hello-dir/manifest.json');
wharf('copy', '-q', '--json', 'dir:hello-dir', 'oci-archive:hello.oci.tar:hello');
wharf('inspect', 'oci:layout:goodbye');
if (!existsSync(join(work, 'hello.oci.tar'))) process.exit(1);
console.log(`\nEverything above is in ${work}. Try: node ${cli.replaceAll(root + '/', '')} --help`);
