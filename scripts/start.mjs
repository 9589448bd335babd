#!/usr/bin/env node
// `npm start`: the registry server, `wharf serve`, on 127.0.0.1:5000 with its storage in ./registry-data,
// seeded with a small demo image so there is something to pull at once. Ctrl-C stops it.
// Arguments after `--` go to wharf serve: `npm start -- --listen 127.0.0.1:5001`, `npm start -- --config reg.yaml`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeDemoLayout } from './demo-image.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'bin', 'wharf.js');
const extra = process.argv.slice(2);
const args = ['serve', ...(extra.some((a) => a === '--storage' || a.startsWith('--storage=') || a === '--config' || a.startsWith('--config=')) ? [] : ['--storage', join(root, 'registry-data')])];
if (!extra.some((a) => a === '--listen' || a.startsWith('--listen=') || a === '--config' || a.startsWith('--config='))) args.push('--listen', '127.0.0.1:5000');
args.push('--log-format', process.stderr.isTTY ? 'text' : 'json', ...extra);

const server = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'inherit', 'pipe'] });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
server.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));

// Pass the server's log through; from its first line learn where it listens, then seed it once.
let seeded = false;
createInterface({ input: server.stderr }).on('line', (line) => {
  process.stderr.write(`${line}\n`);
  const url = /listening on (https?:\/\/[^\s,"]+)/.exec(line)?.[1];
  if (url && !seeded) {
    seeded = true;
    seed(url).catch((err) => process.stderr.write(`npm start: could not push the demo image: ${err.message}\n`));
  }
});

async function seed(url) {
  const host = new URL(url).host;
  const head = await fetch(`${url}/v2/demo/hello/manifests/latest`, { method: 'HEAD' }).catch(() => undefined);
  if (head?.status !== 200) {
    if (head?.status === 401) {
      process.stderr.write('npm start: the registry asks for credentials: no demo image pushed\n');
      return;
    }
    const work = mkdtempSync(join(tmpdir(), 'wharf-start-'));
    try {
      await writeDemoLayout(root, join(work, 'layout'));
      const r = spawnSync(process.execPath, [cli, 'copy', '-q', `--dest-tls-verify=${url.startsWith('https') ? 'true' : 'false'}`, `oci:${join(work, 'layout')}:hello`, `docker://${host}/demo/hello:latest`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr.trim());
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const plain = url.startsWith('http:') ? ' --tls-verify=false' : '';
  process.stdout.write(`
wharf serve is running at ${url} with the image demo/hello:latest in it. In another terminal:
  node dist/bin/wharf.js inspect${plain} docker://${host}/demo/hello:latest
  skopeo copy${plain.replace('tls', 'src-tls')} docker://${host}/demo/hello:latest oci:hello:latest
  node dist/bin/wharf.js copy${plain.replace('tls', 'dest-tls')} oci:hello:latest docker://${host}/team/app:v1
  curl ${url}/v2/_catalog
Ctrl-C stops it.

`);
}
