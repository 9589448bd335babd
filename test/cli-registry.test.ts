/**
 * The `wharf` bin against real registries (Debian's docker-registry, started by test/helpers/registry.ts): copy to
 * and from docker://, login/logout and the auth file, list-tags, delete, inspect (compared with skopeo), short
 * names and mirrors through registries.conf, and sync. Every child runs with its own HOME, XDG_RUNTIME_DIR and
 * registries.conf, so nothing on the machine (a developer's ~/.docker/config.json) leaks into the results.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { buildLayout, type BuiltLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { inspectWithSkopeo, pushWithSkopeo, startRegistry, waitForLog } from './helpers/registry.js';
import { runBin, type BinOptions, type BinRun } from './helpers/bin.js';

/** A private environment for one test: HOME, XDG_RUNTIME_DIR and an empty registries.conf in `dir`. */
async function isolatedEnv(dir: string, extra: Record<string, string | undefined> = {}): Promise<Record<string, string | undefined>> {
  const conf = join(dir, 'registries.conf');
  await writeFile(conf, '', { flag: 'a' });
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('REGISTRY_') || k.startsWith('XDG_') || k === 'DOCKER_CONFIG' || k.startsWith('CONTAINERS_') || k === 'WHARF_DEBUG') continue;
    env[k] = v;
  }
  return { ...env, HOME: dir, XDG_RUNTIME_DIR: join(dir, 'run'), CONTAINERS_REGISTRIES_CONF: conf, ...extra };
}

function wharf(args: string[], options: BinOptions = {}): Promise<BinRun> {
  return runBin(args, options);
}

function ok(r: BinRun, what: string): void {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}`);
}

/** skopeo 1.9 prints no LayersData; newer ones do. Drop the block from ours when the peer has none. */
function alignLayersData(ours: string, theirs: string): string {
  if (theirs.includes('"LayersData"')) return ours;
  return ours.replace(/ {4}"LayersData": \[\n[\s\S]*?\n {4}\],\n/, '');
}

const IMAGES: ImageSpec[] = [
  {
    tag: 'v1',
    layers: [[{ path: 'etc/hello', content: 'hello\n' }], [{ path: 'data/blob', size: 300_000 }]],
    config: { Env: ['A=1'], Labels: { team: 'wharf', 'a&b': '<x>' }, created: '2024-02-03T04:05:06Z' },
  },
  { tag: 'v2', layers: [[{ path: 'etc/hello', content: 'v2\n' }]] },
  { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'a', content: 'amd64' }]] },
  { tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'a', content: 'arm64' }]] },
];

function peers(t: TestContext): boolean {
  return requirePeer(t, 'docker-registry') && requirePeer(t, 'skopeo');
}

describe('wharf against registries', () => {
  let root: string;
  let layout: BuiltLayout;

  before(async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    root = await mkdtemp(join(tmpdir(), 'wharf-cli-registry-'));
    process.on('exit', () => void rm(root, { recursive: true, force: true }));
    layout = await buildLayout(join(root, 'layout'), IMAGES);
  });

  test('copy to and from docker:// (and registry to registry); skopeo pulls the same digests', async (t) => {
    if (!peers(t)) return;
    const a = await startRegistry(t);
    const b = await startRegistry(t);
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    const v1 = layout.ref('v1').digest;

    const push = await wharf(['copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${a.host}/team/app:v1`], { env });
    ok(push, 'push');
    assert.equal(push.stdout, '', 'progress never goes to stdout');
    assert.match(push.stderr, /Copying blob sha256:/);
    assert.match(push.stderr, new RegExp(`Copied image ${v1}`));
    assert.equal(JSON.parse(await inspectWithSkopeo(`${a.host}/team/app:v1`)).Digest, v1);

    // Without --dest-tls-verify=false a plain-HTTP registry is refused, and the error says what to do.
    const strict = await wharf(['copy', '-q', `oci:${layout.dir}:v1`, `docker://${a.host}/team/app:strict`], { env });
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /tls-verify=false/);

    // Registry to registry, the plain --tls-verify covering both sides; --json on stdout.
    const r2r = await wharf(['copy', '--json', '--tls-verify=false', `docker://${a.host}/team/app:v1`, `docker://${b.host}/mirror/app:v1`], { env });
    ok(r2r, 'registry to registry');
    const summary = JSON.parse(r2r.stdout);
    assert.equal(summary.digest, v1);
    assert.equal(summary.source, `docker://${a.host}/team/app:v1`);

    // --src-tls-verify=false alone is not enough for the destination: it is a different registry.
    const half = await wharf(['copy', '-q', '--src-tls-verify=false', `docker://${a.host}/team/app:v1`, `docker://${b.host}/mirror/app:v9`], { env });
    assert.notEqual(half.code, 0);

    // Pull back into a layout and a dir: with wharf and with skopeo, the same manifest.
    const pull = await wharf(['copy', '-q', '--src-tls-verify=false', `docker://${b.host}/mirror/app:v1`, `oci:${join(dir, 'pulled')}:v1`], { env });
    ok(pull, 'pull');
    assert.equal(pull.stdout + pull.stderr, '', '-q prints nothing');
    const index = JSON.parse(await readFile(join(dir, 'pulled', 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, v1);
    await runPeer('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', `docker://${b.host}/mirror/app:v1`, `oci:${join(dir, 'skopeo')}:v1`]);
    const theirs = JSON.parse(await readFile(join(dir, 'skopeo', 'index.json'), 'utf8'));
    assert.equal(theirs.manifests[0].digest, v1);

    // A whole index with --all.
    const all = await wharf(['copy', '-q', '--all', '--dest-tls-verify=false', `oci:${layout.dir}:multi`, `docker://${a.host}/team/multi:1`], { env });
    ok(all, 'copy --all');
    assert.equal(JSON.parse(await inspectWithSkopeo(`${a.host}/team/multi:1`, { args: ['--raw'] })).manifests.length, 2);
  });

  test('login (Basic auth), copy with the stored auth.json (mode 0600), logout', async (t) => {
    if (!peers(t) || !requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const reg = await startRegistry(t, { auth: 'htpasswd' });
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    const authfile = join(dir, 'cfg', 'auth.json');

    const login = await wharf(['login', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '--password-stdin', reg.host], { env, input: 'secret\n' });
    ok(login, 'login');
    assert.equal(login.stdout, 'Login Succeeded!\n');
    assert.equal((await stat(authfile)).mode & 0o777, 0o600);
    const stored = JSON.parse(await readFile(authfile, 'utf8'));
    assert.equal(Buffer.from(stored.auths[reg.host].auth, 'base64').toString(), 'alice:secret');
    // skopeo reads what wharf wrote.
    await runPeer('skopeo', ['login', '--get-login', '--authfile', authfile, reg.host]).then((u) => assert.equal(u.trim(), 'alice'));

    const getLogin = await wharf(['login', '--get-login', '--authfile', authfile, reg.host], { env });
    ok(getLogin, 'get-login');
    assert.equal(getLogin.stdout, 'alice\n');

    // Commands find the credentials through --authfile, and through $REGISTRY_AUTH_FILE.
    const push = await wharf(['copy', '-q', '--authfile', authfile, '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${reg.host}/private/app:v1`], { env });
    ok(push, 'push with the auth file');
    const tags = await wharf(['list-tags', '--tls-verify=false', `docker://${reg.host}/private/app`], { env: { ...env, REGISTRY_AUTH_FILE: authfile } });
    ok(tags, 'list-tags with REGISTRY_AUTH_FILE');
    assert.deepEqual(JSON.parse(tags.stdout).Tags, ['v1']);
    const inspect = await wharf(['inspect', '--tls-verify=false', '--authfile', authfile, `docker://${reg.host}/private/app:v1`], { env });
    ok(inspect, 'inspect with the auth file');
    // --no-creds ignores the file: the registry refuses, exit 5.
    const anon = await wharf(['inspect', '--tls-verify=false', '--no-creds', '--authfile', authfile, `docker://${reg.host}/private/app:v1`], { env });
    assert.equal(anon.code, 5, anon.stderr);
    // --creds overrides the file.
    const creds = await wharf(['list-tags', '--tls-verify=false', '--creds', 'bob:pw', `docker://${reg.host}/private/app`], { env });
    ok(creds, 'list-tags --creds');
    // The default file is ${XDG_RUNTIME_DIR}/containers/auth.json.
    const loginDefault = await wharf(['login', '--tls-verify=false', '-u', 'bob', '--password-stdin', reg.host], { env, input: 'pw' });
    ok(loginDefault, 'login to the default file');
    assert.equal((await stat(join(dir, 'run', 'containers', 'auth.json'))).mode & 0o777, 0o600);
    ok(await wharf(['list-tags', '--tls-verify=false', `docker://${reg.host}/private/app`], { env }), 'list-tags with the default file');

    const logout = await wharf(['logout', '--authfile', authfile, reg.host], { env });
    ok(logout, 'logout');
    assert.equal(logout.stdout, `Removed login credentials for ${reg.host}\n`);
    assert.deepEqual(JSON.parse(await readFile(authfile, 'utf8')).auths, {});
    const again = await wharf(['logout', '--authfile', authfile, reg.host], { env });
    assert.equal(again.code, 5);
    assert.match(again.stderr, new RegExp(`not logged into ${reg.host.replace(/\./g, '\\.')}`));
    const noLogin = await wharf(['login', '--get-login', '--authfile', authfile, reg.host], { env });
    assert.equal(noLogin.code, 5);
    const after = await wharf(['list-tags', '--tls-verify=false', '--authfile', authfile, `docker://${reg.host}/private/app`], { env });
    assert.equal(after.code, 5, 'logged out: the registry refuses');
    const all = await wharf(['logout', '--all'], { env });
    ok(all, 'logout --all');
    assert.equal(all.stdout, 'Removed login credentials for all registries\n');
  });

  test('login with the token flow (Bearer), then copy and inspect', async (t) => {
    if (!peers(t) || !requirePeer(t, 'openssl')) return;
    const reg = await startRegistry(t, { auth: 'token' });
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    const login = await wharf(['login', '--tls-verify=false', '-u', 'alice', '-p', 'secret', reg.host], { env });
    ok(login, 'login');
    assert.equal(login.stdout, 'Login Succeeded!\n');
    assert.match(login.stderr, /--password-stdin/, '-p warns that the password leaks');
    ok(await wharf(['copy', '-q', '--dest-tls-verify=false', `oci:${layout.dir}:v2`, `docker://${reg.host}/alice/app:v2`], { env }), 'push');
    const r = await wharf(['inspect', '--tls-verify=false', `docker://${reg.host}/alice/app:v2`], { env });
    ok(r, 'inspect');
    assert.equal(JSON.parse(r.stdout).Digest, layout.ref('v2').digest);
  });

  test('credentials never appear in output, logs or errors', async (t) => {
    if (!peers(t) || !requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const reg = await startRegistry(t, { auth: 'htpasswd' });
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    const secret = 'Zq7-Distinctive-Pa55word-xyzzy';
    const b64 = Buffer.from(`alice:${secret}`).toString('base64');
    const authfile = join(dir, 'auth.json');
    const runs: BinRun[] = [
      await wharf(['login', '--debug', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '--password-stdin', reg.host], { env, input: secret }),
      await wharf(['login', '--json', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', secret, reg.host], { env }),
      await wharf(['list-tags', '--debug', '--tls-verify=false', '--creds', `alice:${secret}`, `docker://${reg.host}/x/y`], { env }),
      await wharf(['copy', '--debug', '--dest-tls-verify=false', '--dest-creds', `alice:${secret}`, `oci:${layout.dir}:v1`, `docker://${reg.host}/x/y:1`], { env }),
      await wharf(['inspect', '--tls-verify=false', '--registry-token', secret, `docker://${reg.host}/x/y:1`], { env }),
      // A typo next to a secret: the usage error names the flag, not the value.
      await wharf(['list-tags', `--cred=alice:${secret}`, `docker://${reg.host}/x/y`], { env }),
    ];
    for (const [i, r] of runs.entries()) {
      assert.notEqual(r.code, 0, `run ${i} should fail`);
      for (const s of [secret, b64]) {
        assert.ok(!r.stdout.includes(s), `run ${i}: the secret is on stdout:\n${r.stdout}`);
        assert.ok(!r.stderr.includes(s), `run ${i}: the secret is on stderr:\n${r.stderr}`);
      }
    }
    assert.equal(runs[0]!.code, 5);
    await assert.rejects(stat(authfile), 'a refused login stores nothing');
  });

  test('list-tags prints what skopeo prints; delete, then inspect fails with exit 3', async (t) => {
    if (!peers(t)) return;
    const reg = await startRegistry(t);
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    const tags = ['v1', 'v2', '1.0', '1.1', 'latest', 'z-last', 'a_first'];
    for (const tag of tags) await pushWithSkopeo(`oci:${layout.dir}:${tag.startsWith('v2') ? 'v2' : 'v1'}`, `${reg.host}/lib/app:${tag}`);
    const ours = await wharf(['list-tags', '--tls-verify=false', `docker://${reg.host}/lib/app`], { env });
    ok(ours, 'list-tags');
    const theirs = await runPeer('skopeo', ['list-tags', '--tls-verify=false', '--no-creds', `docker://${reg.host}/lib/app`]);
    assert.equal(ours.stdout, theirs);
    assert.equal(ours.stderr, '');

    // A tag in the operand is a usage error; an unknown repository is "not found".
    assert.equal((await wharf(['list-tags', '--tls-verify=false', `docker://${reg.host}/lib/app:v1`], { env })).code, 2);
    assert.equal((await wharf(['list-tags', '--tls-verify=false', `docker://${reg.host}/lib/nothing`], { env })).code, 3);
    assert.equal((await wharf(['list-tags', '--tls-verify=false', `oci:${layout.dir}`], { env })).code, 2);

    // Delete by tag: the tag is resolved to its digest, and that manifest is deleted.
    const del = await wharf(['delete', '--tls-verify=false', `docker://${reg.host}/lib/app:v2`], { env });
    ok(del, 'delete by tag');
    assert.equal(del.stdout, '');
    assert.match(del.stderr, new RegExp(`Deleted ${reg.host.replace(/\./g, '\\.')}/lib/app@${layout.ref('v2').digest}`));
    const gone = await wharf(['inspect', '--tls-verify=false', `docker://${reg.host}/lib/app:v2`], { env });
    assert.equal(gone.code, 3, gone.stderr);
    assert.equal(gone.stdout, '');
    // By digest: every tag pointing at that manifest goes with it (v1, 1.0, 1.1, latest, … share it).
    const v1 = layout.ref('v1').digest;
    ok(await wharf(['delete', '--tls-verify=false', `docker://${reg.host}/lib/app@${v1}`], { env }), 'delete by digest');
    assert.equal((await wharf(['inspect', '--tls-verify=false', `docker://${reg.host}/lib/app:latest`], { env })).code, 3);
    assert.equal((await wharf(['inspect', '--tls-verify=false', `docker://${reg.host}/lib/app@${v1}`], { env })).code, 3);
    // Again: not found.
    const twice = await wharf(['delete', '--tls-verify=false', `docker://${reg.host}/lib/app:v2`], { env });
    assert.equal(twice.code, 3, twice.stderr);
  });

  test('inspect docker:// prints what skopeo prints (RepoTags included), --no-tags, --raw, --config', async (t) => {
    if (!peers(t)) return;
    const reg = await startRegistry(t);
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    for (const tag of ['v1', 'v2', 'multi']) await pushWithSkopeo(`oci:${layout.dir}:${tag}`, `${reg.host}/team/app:${tag}`, tag === 'multi' ? { args: ['--all'] } : {});
    for (const tag of ['v1', 'multi']) {
      const ref = `docker://${reg.host}/team/app:${tag}`;
      for (const flags of [[], ['--no-tags'], ['--raw'], ['--config'], ['--config', '--raw']]) {
        const ours = await wharf(['inspect', '--tls-verify=false', ...flags, ref], { env });
        ok(ours, `inspect ${flags.join(' ')} ${tag}`);
        const theirs = await inspectWithSkopeo(ref, { args: flags });
        const mine = flags.length === 0 || flags[0] === '--no-tags' ? alignLayersData(ours.stdout, theirs) : ours.stdout;
        assert.equal(mine, theirs, `wharf inspect ${flags.join(' ')} ${tag}`);
      }
    }
    const full = JSON.parse((await wharf(['inspect', '--tls-verify=false', `docker://${reg.host}/team/app:v1`], { env })).stdout);
    assert.deepEqual([...full.RepoTags].sort(), ['multi', 'v1', 'v2']);
    const noTags = JSON.parse((await wharf(['inspect', '-n', '--tls-verify=false', `docker://${reg.host}/team/app:v1`], { env })).stdout);
    assert.deepEqual(noTags.RepoTags, []);
    assert.equal(noTags.Name, `${reg.host}/team/app`);
  });

  test('short names: unqualified-search-registries are tried in order, and stderr says which one served', async (t) => {
    if (!peers(t)) return;
    const first = await startRegistry(t);
    const second = await startRegistry(t);
    const dir = await tempDir(t);
    const name = 'wharf-shortname-test';
    await pushWithSkopeo(`oci:${layout.dir}:v1`, `${second.host}/${name}:latest`);
    const conf = join(dir, 'short.conf');
    await writeFile(
      conf,
      `unqualified-search-registries = ["${first.host}", "${second.host}"]
short-name-mode = "permissive"

[[registry]]
location = "${first.host}"
insecure = true

[[registry]]
location = "${second.host}"
insecure = true
`,
    );
    const env = await isolatedEnv(dir, { CONTAINERS_REGISTRIES_CONF: conf });
    const r = await wharf(['inspect', `docker://${name}`], { env });
    ok(r, 'inspect of a short name');
    assert.equal(JSON.parse(r.stdout).Digest, layout.ref('v1').digest);
    assert.match(r.stderr, new RegExp(`using ${second.host.replace(/\./g, '\\.')}/${name}`));
    assert.equal(JSON.parse(r.stdout).Name, `${second.host}/${name}`, 'Name is where the short name resolved to');
    assert.equal(r.stdout.includes('using'), false, 'the note goes to stderr only');
    // copy from a short name too.
    const c = await wharf(['copy', '-q', `docker://${name}:latest`, `oci:${join(dir, 'out')}:x`], { env });
    ok(c, 'copy from a short name');
    // Not in any: the error names every registry tried; exit 3.
    const missing = await wharf(['inspect', 'docker://wharf-not-there'], { env });
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, new RegExp(`${first.host.replace(/\./g, '\\.')}.*${second.host.replace(/\./g, '\\.')}`));
  });

  test('registries.conf mirror: a pull-through cache registry serves the pull', async (t) => {
    if (!peers(t)) return;
    const upstream = await startRegistry(t);
    const cache = await startRegistry(t, { proxy: { remoteurl: upstream.url } });
    const dir = await tempDir(t);
    await pushWithSkopeo(`oci:${layout.dir}:v1`, `${upstream.host}/team/app:v1`);
    const conf = join(dir, 'mirror.conf');
    await writeFile(
      conf,
      `[[registry]]
prefix = "${upstream.host}/team"
location = "${upstream.host}/team"
insecure = true

[[registry.mirror]]
location = "${cache.host}/team"
insecure = true
`,
    );
    const env = await isolatedEnv(dir, { CONTAINERS_REGISTRIES_CONF: conf });
    const r = await wharf(['inspect', '--no-tags', `docker://${upstream.host}/team/app:v1`], { env });
    ok(r, 'inspect through the mirror');
    const out = JSON.parse(r.stdout);
    assert.equal(out.Digest, layout.ref('v1').digest);
    assert.equal(out.Name, `${upstream.host}/team/app`, 'the name stays the one asked for');
    assert.match(r.stderr, new RegExp(`using ${cache.host.replace(/\./g, '\\.')}/team/app \\(mirror\\)`));
    // The cache really served it: its access log has the manifest request.
    assert.match(await waitForLog(cache, /GET \/v2\/team\/app\/manifests\/v1/), /GET \/v2\/team\/app\/manifests\/v1/);
    const c = await wharf(['copy', '-q', `docker://${upstream.host}/team/app:v1`, `oci:${join(dir, 'out')}:v1`], { env });
    ok(c, 'copy through the mirror');
  });

  test('sync docker → dir → docker round trip', async (t) => {
    if (!peers(t)) return;
    const src = await startRegistry(t);
    const dest = await startRegistry(t);
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir);
    for (const tag of ['v1', 'v2']) await pushWithSkopeo(`oci:${layout.dir}:${tag}`, `${src.host}/team/app:${tag}`);
    const usb = join(dir, 'usb');

    const dry = await wharf(['sync', '--dry-run', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${src.host}/team/app`, usb], { env });
    ok(dry, 'sync --dry-run');
    assert.equal(dry.stdout, '');
    await assert.rejects(stat(usb), 'a dry run writes nothing');

    const down = await wharf(['sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${src.host}/team/app`, usb], { env });
    ok(down, 'sync docker → dir');
    assert.equal(down.stdout, '', 'progress and summary go to stderr');
    assert.match(down.stderr, /Synced 2 images/);
    assert.deepEqual((await readdir(usb)).sort(), ['app:v1', 'app:v2']);

    const up = await wharf(['sync', '--json', '--src', 'dir', '--dest', 'docker', '--dest-tls-verify=false', usb, `${dest.host}/mirror`], { env });
    ok(up, 'sync dir → docker');
    const result = JSON.parse(up.stdout);
    assert.equal(result.copied.length, 2);
    assert.deepEqual(result.failed, []);
    for (const tag of ['v1', 'v2']) {
      assert.equal(JSON.parse(await inspectWithSkopeo(`${dest.host}/mirror/app:${tag}`)).Digest, layout.ref(tag).digest);
    }

    // A failure: exit non-zero, and the summary counts it.
    const bad = await wharf(['sync', '--keep-going', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${src.host}/team/nothing`, join(dir, 'bad')], { env });
    assert.notEqual(bad.code, 0);
  });
});
