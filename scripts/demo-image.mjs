// A tiny two-layer image written as an OCI layout by hand (no network, no daemon): what any build tool would
// produce. Used by `npm start` (pushed into the registry it starts) and `npm run demo`.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';

export async function writeDemoLayout(root, layout) {
  const { TarWriter } = await import(join(root, 'dist', 'src', 'archive', 'tar.js'));
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
  return manifest.digest;
}
