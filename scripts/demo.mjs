#!/usr/bin/env node
// `npm start`: a short, real session with the wharf CLI. It builds a tiny two-layer image (no network, no
// daemon), then inspects it and copies it between transports, printing each command and what it printed.
// The registry server (`wharf serve`) will take over `npm start` once it exists.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const { TarWriter } = await import(join(root, 'dist', 'src', 'archive', 'tar.js'));

const work = mkdtempSync(join(tmpdir(), 'wharf-demo-'));
const layout = join(work, 'layout');

async function tarOf(files) {
  const out = new PassThrough();
  const chunks = [];
  out.on('data', (c) => chunks.push(c));
  const tar = new TarWriter(out);
  for (const [name, content] of files) {
    if (content === null) await tar.addDirectory(name, { mtime: 1700000000 });
    else await tar.addFile(name, Buffer.byteLength(content), Buffer.from(content), { mtime: 1700000000, mode: name.startsWith('bin/') ? 0o755 : 0o644 });
  }
  await tar.finish();
  return Buffer.concat(chunks);
}

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
function blob(bytes) {
  const digest = sha(bytes);
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

// A small image, written as an OCI layout by hand: what any build tool would produce.
mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
const tars = [
  await tarOf([['etc/', null], ['etc/os-release', 'ID=wharf-demo\nVERSION_ID=1\n']]),
  await tarOf([['srv/', null], ['srv/hello.txt', 'hello from wharf\n']]),
];
const layers = tars.map((t) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(gzipSync(t)) }));
const config = blob(Buffer.from(JSON.stringify({
  created: '2026-01-01T00:00:00Z', architecture: 'amd64', os: 'linux',
  config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['cat', '/srv/hello.txt'], WorkingDir: '/srv', User: '1000', Labels: { 'org.opencontainers.image.title': 'wharf demo' } },
  rootfs: { type: 'layers', diff_ids: tars.map(sha) },
  history: [{ created: '2026-01-01T00:00:00Z', created_by: 'demo: add /etc/os-release' }, { created: '2026-01-01T00:00:00Z', created_by: 'demo: add /srv/hello.txt' }],
})));
const manifest = blob(Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers,
})));
writeFileSync(join(layout, 'index.json'), JSON.stringify({
  schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'hello' } }],
}));

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
