/**
 * `wharf inspect` against `skopeo inspect`, on every local transport, as text: the same fields, values and
 * formatting (Go's 4-space indent and HTML escaping). wharf adds LayersData, which newer skopeo prints and the
 * Debian 12 build does not; when skopeo lacks it, it is removed from ours before comparing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { copy } from '../src/index.js';
import { goMarshalIndent } from '../src/util/go-json.js';
import { buildLayout } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { WHARF_BIN } from './helpers/bin.js';

const CLI = WHARF_BIN;

function wharf(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('wharf inspect prints what skopeo inspect prints, on oci, dir, docker-archive and oci-archive', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    {
      tag: 'v1',
      layers: [[{ path: 'etc/x', content: 'x' }], [{ path: 'etc/y', size: 5000 }]],
      config: {
        created: '2024-02-03T04:05:06.700Z',
        Env: ['A=<b>&c', 'PATH=/bin'],
        Labels: { 'org.example/é': 'ü ✓', html: '<script>' },
        Cmd: ['sh'],
      },
    },
  ]);
  const refs = [
    `oci:${src.dir}:v1`,
    `dir:${join(dir, 'd')}`,
    `docker-archive:${join(dir, 'a.tar')}:example.com/team/app:1.0`,
    `docker-archive:${join(dir, 'a.tar')}`,
    `oci-archive:${join(dir, 'o.tar')}:v1`,
  ];
  await copy(refs[0]!, refs[1]!);
  await copy(refs[0]!, refs[2]!);
  await copy(refs[0]!, refs[4]!);
  for (const ref of refs) {
    const theirs = await runPeer('skopeo', ['inspect', ref]);
    let ours = wharf('inspect', ref);
    if (!('LayersData' in JSON.parse(theirs))) {
      const parsed = JSON.parse(ours) as Record<string, unknown>;
      delete parsed.LayersData;
      ours = `${goMarshalIndent(parsed)}\n`;
    }
    assert.equal(ours, theirs, ref);
    assert.equal(wharf('inspect', '--raw', ref), await runPeer('skopeo', ['inspect', '--raw', ref]), `${ref} --raw`);
    assert.equal(wharf('inspect', '--config', ref), await runPeer('skopeo', ['inspect', '--config', ref]), `${ref} --config`);
  }
});
