/**
 * End-to-end tests of the `wharf` bin: spawn `node dist/bin/wharf.js …` (the bundled bin) on layouts built by the image helper and
 * compare with skopeo where it is installed (skipped otherwise; WHARF_REQUIRE_PEERS=1 makes that a failure).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildLayout, corruptBlob, largeLayer, type BuiltLayout } from './helpers/images.js';
import { hasPeer, requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { WHARF_BIN } from './helpers/bin.js';

const BIN = WHARF_BIN;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

function wharf(args: string[], options: { cwd?: string; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      options.onStderr?.(err, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
  });
}

/** skopeo 1.9 prints no LayersData; newer ones do. Drop the block from ours when the peer has none. */
function alignLayersData(ours: string, theirs: string): string {
  if (theirs.includes('"LayersData"')) return ours;
  return ours.replace(/ {4}"LayersData": \[\n[\s\S]*?\n {4}\],\n/, '');
}

describe('wharf bin', () => {
  let layout: BuiltLayout;
  let dir: string;

  before(async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    dir = await mkdtemp(join(tmpdir(), 'wharf-cli-e2e-'));
    process.on('exit', () => void rm(dir, { recursive: true, force: true }));
    layout = await buildLayout(join(dir, 'layout'), [
      {
        tag: 'v1',
        layers: [[{ path: 'etc/hello', content: 'hi\n' }], [{ path: 'app/data.bin', size: 300_000 }]],
        config: {
          Labels: { 'b.label': '<b & c>', 'a.label': 'x', '10': 'ten', '9': 'nine' },
          Env: ['PATH=/usr/bin', 'QUOTE="\u2028"'],
          Entrypoint: ['/bin/sh', '-c'],
          Cmd: ['echo hi'],
          WorkingDir: '/app',
          ExposedPorts: { '8080/tcp': {}, '443/tcp': {} },
          created: '2023-11-14T22:13:20.500000000Z',
        },
      },
      { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'a', content: 'amd64' }]] },
      { tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'a', content: 'arm64' }]] },
    ]);
  });

  test('--version, --help, unknown command', async () => {
    const v = await wharf(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout.toString(), /^wharf version \d+\.\d+\.\d+\n$/);
    const h = await wharf(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout.toString(), /Exit codes:/);
    const u = await wharf(['inspekt', 'oci:x']);
    assert.equal(u.code, 2);
    assert.equal(u.stdout.length, 0);
    assert.match(u.stderr, /^wharf: error: unknown command "inspekt"\n  hint: did you mean "inspect"\?/);
  });

  test('inspect, --config, --raw, --config --raw match skopeo byte for byte', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    for (const tag of ['v1', 'multi']) {
      const ref = `oci:${layout.dir}:${tag}`;
      for (const flags of [[], ['--config'], ['--raw'], ['--config', '--raw']]) {
        const ours = await wharf(['inspect', ...flags, ref]);
        assert.equal(ours.code, 0, ours.stderr);
        const theirs = await runPeer('skopeo', ['inspect', ...flags, ref]);
        const mine = flags.length === 0 ? alignLayersData(ours.stdout.toString(), theirs) : ours.stdout.toString();
        assert.equal(mine, theirs, `wharf inspect ${flags.join(' ')} ${tag}`);
      }
    }
  });

  test('inspect --format table', async () => {
    const r = await wharf(['inspect', '--format', 'table', `oci:${layout.dir}:multi`]);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /^Name: +oci:.*:multi\n/);
    assert.match(text, /Media Type: +application\/vnd\.oci\.image\.index\.v1\+json\n/);
    assert.match(text, /Platforms: +linux\/amd64 +sha256:[0-9a-f]{64}/);
    assert.match(text, /\n +linux\/arm64\/v8 +sha256:[0-9a-f]{64}/);
    assert.match(text, /Image Size: +.* in 1 layer\n/);
  });

  test('manifest-digest matches skopeo', async (t) => {
    const file = join(layout.dir, 'blobs', 'sha256', layout.ref('v1').digest.slice(7));
    const r = await wharf(['manifest-digest', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), `${layout.ref('v1').digest}\n`);
    if (hasPeer('skopeo') || requirePeer(t, 'skopeo')) assert.equal(r.stdout.toString(), await runPeer('skopeo', ['manifest-digest', file]));
  });

  test('copy: progress on stderr only, --json summary, --digestfile', async (t) => {
    const out = await tempDir(t);
    const r = await wharf(['copy', '--json', '--digestfile', 'digest', `oci:${layout.dir}:v1`, 'oci:copy:v1'], { cwd: out });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.toString());
    assert.equal(summary.digest, layout.ref('v1').digest);
    assert.equal(summary.blobsCopied, 3, "two layers and the config");
    assert.equal(summary.blobsSkipped, 0);
    assert.equal(await readFile(join(out, 'digest'), 'utf8'), layout.ref('v1').digest);
    assert.match(r.stderr, /^Copying oci:.* to oci:copy:v1\n/);
    assert.match(r.stderr, /\nCopied blob sha256:[0-9a-f]{64} \(/);
    assert.match(r.stderr, new RegExp(`\\nWriting manifest ${layout.ref('v1').digest}\\n`));
    assert.doesNotMatch(r.stderr, /\x1b/, 'no ANSI when stderr is not a TTY');

    const again = await wharf(['copy', `oci:${layout.dir}:v1`, 'oci:copy:v1'], { cwd: out });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /Skipped blob sha256:[0-9a-f]{64} \(already present\)/);

    const quiet = await wharf(['copy', '-q', `oci:${layout.dir}:v1`, 'oci:copy:v2'], { cwd: out });
    assert.deepEqual([quiet.code, quiet.stdout.length, quiet.stderr], [0, 0, '']);

    // The copy is the same image: inspect says exactly the same.
    assert.equal(
      (await wharf(['inspect', `oci:${join(out, 'copy')}:v1`])).stdout.toString(),
      (await wharf(['inspect', `oci:${layout.dir}:v1`])).stdout.toString(),
    );
  });

  test('copy --all and --platform', async (t) => {
    const out = await tempDir(t);
    const all = await wharf(['copy', '-q', '--all', '--json', `oci:${layout.dir}:multi`, `oci:${out}:all`]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(JSON.parse(all.stdout.toString()).digest, layout.ref('multi').digest);
    const one = await wharf(['copy', '-q', '--platform', 'linux/arm64', '--json', `oci:${layout.dir}:multi`, `oci:${out}:arm`]);
    assert.equal(one.code, 0, one.stderr);
    const arm = layout.ref('multi').images.find((i) => i.platform.architecture === 'arm64')!;
    assert.equal(JSON.parse(one.stdout.toString()).digest, arm.manifest.digest);
    const none = await wharf(['copy', '-q', '--platform', 'linux/s390x', `oci:${layout.dir}:multi`, `oci:${out}:none`]);
    assert.equal(none.code, 3, none.stderr);
    assert.match(none.stderr, /^wharf: error: .*s390x.*\n  hint: /);
  });

  test('exit codes: not found 3, usage 2, integrity 4; errors never show a stack', async (t) => {
    const missing = await wharf(['inspect', `oci:${layout.dir}:nope`]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^wharf: error: .+\n( {2}hint: .+\n)?$/);
    const json = await wharf(['copy', '--json', `oci:${layout.dir}:nope`, 'oci:/tmp/never']);
    assert.equal(json.code, 3);
    assert.equal(JSON.parse(json.stderr).error.code, 'IMAGE_NOT_FOUND');
    const bad = await wharf(['copy', 'nonsense', 'oci:/tmp/x']);
    assert.equal(bad.code, 2);
    assert.doesNotMatch(bad.stderr, /\n {4}at /);

    const broken = await tempDir(t);
    const copy = await buildLayout(join(broken, 'l'), [{ tag: 't', layers: [[{ path: 'f', size: 100_000 }]] }]);
    await corruptBlob(copy.dir, copy.images[0]!.layers[0]!.digest);
    const r = await wharf(['copy', '-q', `oci:${copy.dir}:t`, `oci:${join(broken, 'dest')}:t`]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^wharf: error: .*(digest|size)/);
  });

  test('Ctrl-C stops a copy: exit 130, destination left as it was', async (t) => {
    const out = await tempDir(t);
    // Big enough that the copy is still running when the signal arrives (it is sent at the first blob).
    const built = await buildLayout(join(out, 'src'), [{ tag: 'latest', layers: [largeLayer(200)] }], { gzipLevel: 1 });
    const large = built.dir;
    let sent = false;
    const r = await wharf(['copy', `oci:${large}:latest`, `oci:${join(out, 'dest')}:x`], {
      onStderr: (text, child) => {
        if (!sent && /Copying blob/.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /wharf: error: interrupted\n/);
    await assert.rejects(access(join(out, 'dest', 'index.json')));
  });
});
