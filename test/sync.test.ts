/**
 * sync against real registries (Debian's docker-registry): whole repositories to a directory and back into
 * another registry (the air-gap path, digests preserved end to end), to OCI layouts, skopeo's sync YAML with
 * tag lists, tag regexes and semver constraints, per-registry credentials, dry runs, keep-going, scoped names.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { WharfError } from '../src/errors.js';
import { copy, inspect } from '../src/index.js';
import { sync, type SyncEvent } from '../src/sync/index.js';
import type { RegistryAccess } from '../src/transports/index.js';
import { buildLayout, type BuiltLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, tempDir } from './helpers/peers.js';
import { inspectWithSkopeo, startRegistry, type RunningRegistry } from './helpers/registry.js';

const INSECURE: RegistryAccess = { tlsVerify: false };

function image(tag: string, n: number): ImageSpec {
  return {
    tag,
    layers: [[{ path: 'etc/shared', content: 'shared base layer\n' }], [{ path: `data/${tag}`, size: 20_000 + n, seed: tag }]],
    config: { Env: [`TAG=${tag}`] },
  };
}

/** A layout with one distinct image per tag, pushed to `repo` on the registry. */
async function pushTags(t: TestContext, reg: RunningRegistry, repo: string, tags: string[], access: RegistryAccess = INSECURE): Promise<BuiltLayout> {
  const dir = await tempDir(t);
  const layout = await buildLayout(join(dir, 'src'), tags.map((tag, i) => image(tag, i)));
  for (const tag of tags) await copy(`oci:${layout.dir}:${tag}`, `docker://${reg.host}/${repo}:${tag}`, { registry: access });
  return layout;
}

function peers(t: TestContext): boolean {
  return requirePeer(t, 'docker-registry');
}

test('docker → dir of a repository with 3 tags, then dir → docker into another registry: digests kept end to end', async (t) => {
  if (!peers(t)) return;
  const [reg1, reg2] = await Promise.all([startRegistry(t), startRegistry(t)]);
  const tags = ['v1', 'v2', 'v3'];
  const layout = await pushTags(t, reg1, 'team/app', tags);
  const dir = await tempDir(t);
  const usb = join(dir, 'usb');

  const events: SyncEvent[] = [];
  const out = await sync({ src: 'docker', dest: 'dir', source: `${reg1.host}/team/app`, destination: usb, sourceRegistry: INSECURE, onEvent: (e) => events.push(e) });
  assert.deepEqual(
    [...out.planned].sort((a, b) => a.source.localeCompare(b.source)),
    tags.map((tag) => ({ source: `docker://${reg1.host}/team/app:${tag}`, destination: `dir:${join(usb, `app:${tag}`)}` })),
  );
  assert.equal(out.copied.length, 3);
  assert.deepEqual(out.failed, []);
  assert.ok(out.bytesWritten > 60_000);
  assert.deepEqual((await fsp.readdir(usb)).sort(), ['app:v1', 'app:v2', 'app:v3']);
  for (const tag of tags) {
    const copied = out.copied.find((c) => c.source.endsWith(`:${tag}`))!;
    assert.equal(copied.digest, layout.ref(tag).digest, tag);
  }
  // Events: the plan, then start and done for each image, with the copy's own events tagged with the image.
  const plan = events.find((e) => e.type === 'plan');
  assert.ok(plan && plan.type === 'plan' && plan.images === 3);
  assert.equal(events.filter((e) => e.type === 'image-start').length, 3);
  assert.equal(events.filter((e) => e.type === 'image-done').length, 3);
  assert.ok(events.some((e) => e.type === 'blob-done' && e.item.source.endsWith(':v2')));

  // The other side of the air gap.
  const back = await sync({ src: 'dir', dest: 'docker', source: usb, destination: `${reg2.host}/mirror`, destinationRegistry: INSECURE });
  assert.equal(back.copied.length, 3);
  for (const tag of tags) {
    const item = back.copied.find((c) => c.destination === `docker://${reg2.host}/mirror/app:${tag}`);
    assert.ok(item, `mirror/app:${tag} in ${JSON.stringify(back.copied.map((c) => c.destination))}`);
    assert.equal(item.source, `dir:${join(usb, `app:${tag}`)}`);
    assert.equal(item.digest, layout.ref(tag).digest);
    const seen = await inspect(`docker://${reg2.host}/mirror/app:${tag}`, { registry: INSECURE });
    assert.equal(seen.output.Digest, layout.ref(tag).digest);
  }
  if (requirePeer(t, 'skopeo')) {
    const sk = JSON.parse(await inspectWithSkopeo(`${reg2.host}/mirror/app:v2`));
    assert.equal(sk.Digest, layout.ref('v2').digest);
  }
  // A second sync into the registry finds every blob there and sends nothing.
  const again = await sync({ src: 'dir', dest: 'docker', source: usb, destination: `${reg2.host}/mirror`, destinationRegistry: INSECURE });
  assert.equal(again.copied.length, 3);
  assert.equal(again.bytesWritten, 0);
  assert.ok(again.copied.every((c) => c.blobsCopied === 0 && c.bytesWritten === 0));
  // And a second sync into the directory replaces the images in place.
  const redo = await sync({ src: 'docker', dest: 'dir', source: `${reg1.host}/team/app`, destination: usb, sourceRegistry: INSECURE });
  assert.equal(redo.copied.length, 3);
  assert.deepEqual((await fsp.readdir(usb)).sort(), ['app:v1', 'app:v2', 'app:v3']);
});

test('docker → oci: one layout per repository, one name per tag; back to a registry from the layout', async (t) => {
  if (!peers(t)) return;
  const [reg1, reg2] = await Promise.all([startRegistry(t), startRegistry(t)]);
  const tags = ['1.0', '1.1', 'latest'];
  const layout = await pushTags(t, reg1, 'lib/web', tags);
  const dir = await tempDir(t);
  const out = join(dir, 'oci');
  const r = await sync({ src: 'docker', dest: 'oci', source: `docker://${reg1.host}/lib/web`, destination: out, sourceRegistry: INSECURE, parallel: 3 });
  assert.equal(r.copied.length, 3);
  assert.deepEqual(await fsp.readdir(out), ['web']);
  const index = JSON.parse(await fsp.readFile(join(out, 'web', 'index.json'), 'utf8'));
  const names = index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name']).sort();
  assert.deepEqual(names, ['1.0', '1.1', 'latest']);
  for (const tag of tags) {
    assert.equal(r.copied.find((c) => c.destination === `oci:${join(out, 'web')}:${tag}`)?.digest, layout.ref(tag).digest);
  }
  // One image by tag, by its name in the source.
  const one = await sync({ src: 'docker', dest: 'oci', source: `${reg1.host}/lib/web:1.1`, destination: join(dir, 'one'), sourceRegistry: INSECURE });
  assert.deepEqual(one.planned, [{ source: `docker://${reg1.host}/lib/web:1.1`, destination: `oci:${join(dir, 'one', 'web')}:1.1` }]);

  // --src oci: the layout sync wrote (or the directory of layouts) goes back to a registry under its own name.
  const back = await sync({ src: 'oci', dest: 'docker', source: out, destination: `${reg2.host}/copy`, destinationRegistry: INSECURE });
  assert.deepEqual(back.copied.map((c) => c.destination).sort(), tags.map((tag) => `docker://${reg2.host}/copy/web:${tag}`));
  const fromLayout = await sync({ src: 'oci', dest: 'docker', source: join(out, 'web'), destination: `${reg2.host}/copy2`, destinationRegistry: INSECURE, dryRun: true });
  assert.deepEqual(fromLayout.planned.map((c) => c.destination).sort(), tags.map((tag) => `docker://${reg2.host}/copy2/web:${tag}`));
  const seen = await inspect(`docker://${reg2.host}/copy/web:1.1`, { registry: INSECURE });
  assert.equal(seen.output.Digest, layout.ref('1.1').digest);
});

test('yaml: images, images-by-tag-regex and images-by-semver against a registry with 1.0.0 1.2.3 1.10.0 2.0.0 latest', async (t) => {
  if (!peers(t)) return;
  const reg = await startRegistry(t);
  const tags = ['1.0.0', '1.2.3', '1.10.0', '2.0.0', 'latest'];
  const dir = await tempDir(t);
  const layout = await buildLayout(join(dir, 'src'), tags.map((tag, i) => image(tag, i)));
  for (const repo of ['lib/listed', 'lib/all', 'lib/regex', 'lib/semver']) {
    for (const tag of tags) await copy(`oci:${layout.dir}:${tag}`, `docker://${reg.host}/${repo}:${tag}`, { registry: INSECURE });
  }
  const digest = layout.ref('1.2.3').digest;
  const yamlPath = join(dir, 'sync.yml');
  await fsp.writeFile(
    yamlPath,
    `"${reg.host}":
  tls-verify: false
  images:
    lib/listed:
      - 1.0.0
      - "${digest}"
    lib/all: []
  images-by-tag-regex:
    lib/regex: ^1\\.[0-9]+\\.0$
  images-by-semver:
    lib/semver: ">= 1.2.0, < 2"
`,
  );
  const out = join(dir, 'out');
  // tls-verify: false in the YAML is what lets this plain-HTTP registry be read: no sourceRegistry here.
  const r = await sync({ src: 'yaml', dest: 'dir', source: yamlPath, destination: out, scoped: true, dryRun: true });
  const planned = r.planned.map((p) => p.source.slice(`docker://${reg.host}/`.length));
  const sorted = (repo: string) => planned.filter((p) => p.startsWith(`${repo}:`) || p.startsWith(`${repo}@`)).sort();
  assert.deepEqual(sorted('lib/listed'), [`lib/listed:1.0.0`, `lib/listed@${digest}`]);
  assert.deepEqual(sorted('lib/all'), tags.map((tag) => `lib/all:${tag}`).sort());
  assert.deepEqual(sorted('lib/regex'), ['lib/regex:1.0.0', 'lib/regex:1.10.0']);
  assert.deepEqual(sorted('lib/semver'), ['lib/semver:1.10.0', 'lib/semver:1.2.3']);
  assert.equal(r.planned.length, 2 + 5 + 2 + 2);
  assert.equal(r.copied.length, 0);
  // Copy a part of it for real: the semver selection, unscoped.
  const semverOnly = join(dir, 'semver.yml');
  await fsp.writeFile(semverOnly, `"${reg.host}":\n  tls-verify: false\n  images-by-semver:\n    lib/semver: "^1.2"\n`);
  const copied = await sync({ src: 'yaml', dest: 'dir', source: semverOnly, destination: out });
  assert.deepEqual(copied.copied.map((c) => c.destination).sort(), [`dir:${join(out, 'semver:1.10.0')}`, `dir:${join(out, 'semver:1.2.3')}`]);
  assert.equal(copied.copied.find((c) => c.destination.endsWith(':1.2.3'))?.digest, digest);
  // The digest entry lands under its digest.
  const byDigest = await sync({ src: 'yaml', dest: 'dir', source: yamlPath, destination: join(dir, 'd'), dryRun: true });
  assert.ok(byDigest.planned.some((p) => p.destination === `dir:${join(dir, 'd', `listed@${digest}`)}`));
});

test('yaml: per-registry credentials against an htpasswd registry (and never in errors)', async (t) => {
  if (!peers(t) || !requirePeer(t, 'htpasswd', 'apache2-utils')) return;
  const reg = await startRegistry(t, { auth: 'htpasswd' });
  const alice: RegistryAccess = { tlsVerify: false, credentials: async () => ({ username: 'alice', password: 'secret' }) };
  const layout = await pushTags(t, reg, 'private/app', ['v1', 'v2'], alice);
  const dir = await tempDir(t);
  const yaml = (password: string) => `"${reg.host}":\n  tls-verify: false\n  credentials:\n    username: alice\n    password: "${password}"\n  images:\n    private/app: []\n`;
  // The command line's settings know no credentials; the YAML's are used for listing tags and for pulling.
  const r = await sync({
    src: 'yaml',
    dest: 'oci',
    source: 'creds.yml',
    destination: join(dir, 'out'),
    readFile: async () => Buffer.from(yaml('secret')),
    sourceRegistry: { tlsVerify: true },
  });
  assert.equal(r.copied.length, 2);
  assert.equal(r.copied.find((c) => c.source.endsWith(':v2'))?.digest, layout.ref('v2').digest);
  // Without them, the registry says no.
  await assert.rejects(
    sync({ src: 'docker', dest: 'dir', source: `${reg.host}/private/app`, destination: join(dir, 'anon'), sourceRegistry: INSECURE }),
    (err: unknown) => err instanceof WharfError && (err.code === 'AUTH_FAILED' || err.code === 'DENIED'),
  );
  // A wrong password fails with an auth error that does not show it.
  await assert.rejects(
    sync({ src: 'yaml', dest: 'dir', source: 'creds.yml', destination: join(dir, 'bad'), readFile: async () => Buffer.from(yaml('wrong-pa55word')) }),
    (err: unknown) => {
      assert.ok(err instanceof WharfError);
      assert.ok(err.code === 'AUTH_FAILED' || err.code === 'DENIED', err.code);
      assert.ok(!JSON.stringify({ m: err.message, h: err.hint }).includes('wrong-pa55word'));
      return true;
    },
  );
});

test('dryRun resolves tags and copies nothing', async (t) => {
  if (!peers(t)) return;
  const reg = await startRegistry(t);
  await pushTags(t, reg, 'team/app', ['a', 'b', 'c']);
  const dir = await tempDir(t);
  const events: SyncEvent[] = [];
  const r = await sync({ src: 'docker', dest: 'dir', source: `${reg.host}/team/app`, destination: join(dir, 'out'), sourceRegistry: INSECURE, dryRun: true, onEvent: (e) => events.push(e) });
  assert.equal(r.planned.length, 3);
  assert.deepEqual(r.copied, []);
  assert.equal(r.bytesWritten, 0);
  assert.deepEqual(events.map((e) => e.type), ['plan']);
  await assert.rejects(fsp.stat(join(dir, 'out')), { code: 'ENOENT' });
  // Into a registry: nothing pushed either.
  const reg2 = await startRegistry(t);
  await sync({ src: 'docker', dest: 'docker', source: `${reg.host}/team/app`, destination: reg2.host, sourceRegistry: INSECURE, destinationRegistry: INSECURE, dryRun: true });
  await assert.rejects(inspect(`docker://${reg2.host}/app:a`, { registry: INSECURE }), (err: unknown) => err instanceof WharfError);
});

test('keepGoing: one missing tag is reported, the others are copied; without it the first failure is thrown', async (t) => {
  if (!peers(t)) return;
  const reg = await startRegistry(t);
  const layout = await pushTags(t, reg, 'team/app', ['1.0.0', '2.0.0']);
  const dir = await tempDir(t);
  const yaml = Buffer.from(`"${reg.host}":\n  tls-verify: false\n  images:\n    team/app: ["1.0.0", "nope", "2.0.0"]\n`);
  const events: SyncEvent[] = [];
  const r = await sync({ src: 'yaml', dest: 'dir', source: 'f.yml', destination: join(dir, 'out'), readFile: async () => yaml, keepGoing: true, parallel: 1, onEvent: (e) => events.push(e) });
  assert.deepEqual(r.copied.map((c) => c.source).sort(), [`docker://${reg.host}/team/app:1.0.0`, `docker://${reg.host}/team/app:2.0.0`]);
  assert.equal(r.copied.find((c) => c.source.endsWith(':2.0.0'))?.digest, layout.ref('2.0.0').digest);
  assert.equal(r.failed.length, 1);
  assert.equal(r.failed[0]!.item.source, `docker://${reg.host}/team/app:nope`);
  assert.equal(r.failed[0]!.item.destination, `dir:${join(dir, 'out', 'app:nope')}`);
  assert.equal(r.failed[0]!.error.code, 'MANIFEST_UNKNOWN');
  assert.equal(events.filter((e) => e.type === 'image-failed').length, 1);
  await assert.rejects(fsp.stat(join(dir, 'out', 'app:nope')), { code: 'ENOENT' });

  // Without keepGoing: the error names the image, and what was not started is not copied.
  await assert.rejects(
    sync({ src: 'yaml', dest: 'dir', source: 'f.yml', destination: join(dir, 'stop'), readFile: async () => yaml, parallel: 1 }),
    (err: unknown) => {
      assert.ok(err instanceof WharfError);
      assert.equal(err.code, 'MANIFEST_UNKNOWN');
      assert.match(err.message, /team\/app:nope/);
      return true;
    },
  );
  assert.deepEqual(await fsp.readdir(join(dir, 'stop')), ['app:1.0.0']);
  // A repository whose tags cannot be listed is a failure too (keepGoing), not silently skipped.
  const missingRepo = Buffer.from(`"${reg.host}":\n  tls-verify: false\n  images:\n    team/ghost: []\n    team/app: ["1.0.0"]\n`);
  const g = await sync({ src: 'yaml', dest: 'dir', source: 'g.yml', destination: join(dir, 'g'), readFile: async () => missingRepo, keepGoing: true });
  assert.deepEqual(g.copied.map((c) => c.source), [`docker://${reg.host}/team/app:1.0.0`]);
  assert.equal(g.failed.length, 1);
  assert.equal(g.failed[0]!.item.source, `docker://${reg.host}/team/ghost`);
  await assert.rejects(
    sync({ src: 'yaml', dest: 'dir', source: 'g.yml', destination: join(dir, 'g2'), readFile: async () => missingRepo }),
    (err: unknown) => err instanceof WharfError && /team\/ghost/.test(err.message),
  );
});

test('scoped naming: the full source name below the destination, for dir, oci and a registry', async (t) => {
  if (!peers(t)) return;
  const [reg, reg2] = await Promise.all([startRegistry(t), startRegistry(t)]);
  const layout = await pushTags(t, reg, 'a/b/app', ['v1']);
  await pushTags(t, reg, 'c/app', ['v1']);
  const dir = await tempDir(t);
  const yaml = Buffer.from(`"${reg.host}":\n  tls-verify: false\n  images:\n    a/b/app: [v1]\n    c/app: [v1]\n`);
  // Unscoped, both would be app:v1: refused, pointing at --scoped.
  await assert.rejects(
    sync({ src: 'yaml', dest: 'dir', source: 'f.yml', destination: join(dir, 'flat'), readFile: async () => yaml }),
    (err: unknown) => err instanceof WharfError && err.code === 'USAGE' && /--scoped/.test(err.hint ?? ''),
  );
  const scopedDir = join(dir, 'scoped');
  const r = await sync({ src: 'yaml', dest: 'dir', source: 'f.yml', destination: scopedDir, readFile: async () => yaml, scoped: true });
  assert.deepEqual(r.copied.map((c) => c.destination).sort(), [`dir:${join(scopedDir, reg.host, 'a', 'b', 'app:v1')}`, `dir:${join(scopedDir, reg.host, 'c', 'app:v1')}`]);
  await fsp.stat(join(scopedDir, reg.host, 'a', 'b', 'app:v1', 'manifest.json'));
  const ociDir = join(dir, 'oci');
  const o = await sync({ src: 'docker', dest: 'oci', source: `${reg.host}/a/b/app:v1`, destination: ociDir, sourceRegistry: INSECURE, scoped: true });
  assert.deepEqual(o.planned, [{ source: `docker://${reg.host}/a/b/app:v1`, destination: `oci:${join(ociDir, reg.host, 'a', 'b', 'app')}:v1` }]);
  await fsp.stat(join(ociDir, reg.host, 'a', 'b', 'app', 'index.json'));
  // A scoped tree of dir: images goes to a registry under the same scoped names (here from a name a registry
  // can hold: a registry host with a port cannot be a repository path component).
  const tree = join(dir, 'tree');
  await fsp.mkdir(join(tree, 'mirror.example', 'a', 'b'), { recursive: true });
  await fsp.rename(join(scopedDir, reg.host, 'a', 'b', 'app:v1'), join(tree, 'mirror.example', 'a', 'b', 'app:v1'));
  const up = await sync({ src: 'dir', dest: 'docker', source: tree, destination: `${reg2.host}/ns`, destinationRegistry: INSECURE, scoped: true, appendSuffix: '-mirror' });
  assert.deepEqual(up.copied.map((c) => c.destination), [`docker://${reg2.host}/ns/mirror.example/a/b/app:v1-mirror`]);
  assert.equal(up.copied[0]!.digest, layout.ref('v1').digest);
});

test('an aborted sync stops its copies and throws ABORTED', async (t) => {
  if (!peers(t)) return;
  const reg = await startRegistry(t);
  await pushTags(t, reg, 'team/app', ['a', 'b']);
  const dir = await tempDir(t);
  const controller = new AbortController();
  await assert.rejects(
    sync({
      src: 'docker',
      dest: 'dir',
      source: `${reg.host}/team/app`,
      destination: join(dir, 'out'),
      sourceRegistry: INSECURE,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'image-start') controller.abort();
      },
    }),
    (err: unknown) => err instanceof WharfError && err.code === 'ABORTED',
  );
  // Nothing half-written: dir: destinations are swapped in only when complete.
  const left = await fsp.readdir(join(dir, 'out')).catch(() => []);
  assert.deepEqual(left, []);
});
