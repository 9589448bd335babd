import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { copy, inspect, parseReference, WharfError } from '../src/index.js';
import { buildLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

const INDEX_JS = fileURLToPath(new URL('../src/index.js', import.meta.url));

const IMAGE: ImageSpec = {
  tag: 'v1',
  layers: [[{ path: 'etc/hello', content: 'hello\n' }, { path: 'bin/prog', size: 20_000, mode: 0o755 }]],
  config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/prog'], Labels: { a: 'b' }, WorkingDir: '/srv', User: '1000:1000' },
};

async function readIndexJson(dir: string): Promise<{ manifests: { digest: string; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
}

function names(index: Awaited<ReturnType<typeof readIndexJson>>): string[] {
  return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').sort();
}

test('oci: references parse as skopeo writes them, and bad ones name the wrong part', () => {
  assert.equal(parseReference('oci:/tmp/x:latest').toString(), 'oci:/tmp/x:latest');
  assert.equal(parseReference('oci:/tmp/x').toString(), 'oci:/tmp/x');
  assert.equal(parseReference('oci:rel/dir:docker.io/library/busybox:1.36').toString(), 'oci:rel/dir:docker.io/library/busybox:1.36');
  assert.equal(parseReference('oci:/tmp/x:@2').toString(), 'oci:/tmp/x:@2');
  for (const [bad, part] of [
    ['oci:', 'path is empty'],
    ['oci::tag', 'path is empty'],
    ['oci:/x:bad tag', 'bad tag'],
    ['oci:/x:-lead', '-lead'],
    ['oci:/x:a//b', 'a//b'],
    ['oci:/x:@-1', '@-1'],
    ['oci:/x:@abc', '@abc'],
    ['nosuch:/x', 'nosuch'],
    ['/just/a/path', 'no transport'],
  ] as const) {
    assert.throws(() => parseReference(bad), (err: unknown) => {
      assert.ok(err instanceof WharfError, `${bad}: not a WharfError`);
      assert.ok(['INVALID_REFERENCE', 'UNKNOWN_TRANSPORT'].includes(err.code), `${bad}: ${err.code}`);
      assert.ok(err.message.includes(part), `${bad}: "${err.message}" should name "${part}"`);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    });
  }
});

test('writing into an existing layout keeps its other entries, and replaces a re-used name', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE, { ...IMAGE, tag: 'v2', config: { Env: ['V=2'] } }]);
  const dest = join(dir, 'dest');
  await copy(`oci:${src.dir}:v1`, `oci:${dest}:one`);
  await copy(`oci:${src.dir}:v2`, `oci:${dest}:two`);
  await copy(`oci:${src.dir}:v1`, `oci:${dest}`);
  assert.deepEqual(names(await readIndexJson(dest)), ['', 'one', 'two']);
  await copy(`oci:${src.dir}:v2`, `oci:${dest}:one`);
  const index = await readIndexJson(dest);
  assert.deepEqual(names(index), ['', 'one', 'two']);
  assert.equal(index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'one')?.digest, src.ref('v2').digest);
});

test('four wharf processes copying into one layout at once lose no entry (skopeo#2184)', async (t) => {
  const dir = await tempDir(t);
  const specs: ImageSpec[] = [0, 1, 2, 3].map((i) => ({ tag: `t${i}`, layers: [[{ path: `f${i}`, size: 300_000 + i }]], config: { Env: [`I=${i}`] } }));
  const src = await buildLayout(join(dir, 'src'), specs);
  const dest = join(dir, 'dest');
  for (let round = 0; round < 3; round++) {
    const runs = specs.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          const script = `import(${JSON.stringify(INDEX_JS)}).then(w => w.copy(${JSON.stringify(`oci:${src.dir}:${s.tag}`)}, ${JSON.stringify(`oci:${dest}:r${round}-${s.tag}`)}))`;
          const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          child.stderr.on('data', (d) => (err += d));
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`copy failed: ${err}`))));
        }),
    );
    await Promise.all(runs);
  }
  const got = names(await readIndexJson(dest));
  assert.equal(got.length, 12);
  assert.deepEqual(got, [0, 1, 2].flatMap((r) => specs.map((s) => `r${r}-${s.tag}`)).sort());
});

test('skopeo and umoci read what wharf writes to oci:', async (t) => {
  if (!requirePeer(t, 'skopeo') || !requirePeer(t, 'umoci')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE], { format: 'v2s2' });
  const dest = join(dir, 'dest');
  // A v2s2 source becomes OCI in a layout (oci: stores only OCI manifests, as in containers/image).
  const r = await copy(`oci:${src.dir}:v1`, `oci:${dest}:v1`);
  const sk = JSON.parse(await runPeer('skopeo', ['inspect', `oci:${dest}:v1`]));
  assert.equal(sk.Digest, r.digest);
  assert.deepEqual(sk.Env, ['PATH=/usr/bin:/bin']);
  const bundle = join(dir, 'bundle');
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${dest}:v1`, bundle]);
  assert.equal(await readFile(join(bundle, 'rootfs', 'etc', 'hello'), 'utf8'), 'hello\n');
  // skopeo copies out of it byte for byte.
  await runPeer('skopeo', ['copy', '-q', `oci:${dest}:v1`, `oci:${join(dir, 'sk')}:v1`]);
  const back = await inspect(`oci:${join(dir, 'sk')}:v1`);
  assert.equal(back.output.Digest, r.digest);
});

test('wharf inspect prints what skopeo inspect prints, field for field', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    { ...IMAGE, config: { ...IMAGE.config, created: '2024-05-06T07:08:09.120000000Z', Labels: { 'x<y': 'a&b' } } },
    { tag: 'zero' },
  ]);
  for (const tag of ['v1', 'zero']) {
    const ours = (await inspect(`oci:${src.dir}:${tag}`)).output as Record<string, unknown>;
    const theirs = JSON.parse(await runPeer('skopeo', ['inspect', `oci:${src.dir}:${tag}`])) as Record<string, unknown>;
    for (const [key, value] of Object.entries(theirs)) {
      if (key === 'Layers' && value === null) {
        assert.deepEqual(ours[key], [], 'Go prints a nil slice as null; we print []');
        continue;
      }
      assert.deepEqual(ours[key], value, `${tag}: ${key}`);
    }
  }
});
