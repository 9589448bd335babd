/**
 * The image side of `wharf scan`: secrets in every layer (deleted ones too, with the layer that hid them),
 * setuid/setgid/world-writable/capabilities from the final tree, the config lint — checked against the planted
 * ground truth of the bench fixture debian-app, against GNU tar's own listing of the debian base layer, and
 * with hostile and near-miss input.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { openImage } from '../src/filesystem/image-layers.js';
import { parseReference } from '../src/index.js';
import type { ImageConfig } from '../src/oci/types.js';
import { lintConfig } from '../src/scan/config-lint.js';
import { readImageFiles } from '../src/scan/image-files.js';
import { findSecrets, redact } from '../src/scan/secrets.js';
import { buildLayout } from './helpers/images.js';
import { tempDir } from './helpers/peers.js';

const FIXTURES = '/tmp/wharf-fixtures/oci';

function fixtures(t: TestContext): boolean {
  if (existsSync(join(FIXTURES, 'debian-app.truth.json'))) return true;
  t.skip(`the bench fixtures are not in ${FIXTURES} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

async function scanRef(ref: string, wanted?: (p: string) => boolean): Promise<Awaited<ReturnType<typeof readImageFiles>> & { config: ImageConfig }> {
  const image = await openImage(parseReference(ref));
  try {
    return { ...(await readImageFiles(image, wanted ? { wanted } : {})), config: image.config };
  } finally {
    await image.close();
  }
}

interface Truth {
  suid: { path: string; mode: string; layer: number }[];
  base_suid_sgid: { path: string; mode: string }[];
  secrets: { kind: string; path?: string; line?: number; value?: string; layer?: number; deleted_in_layer?: number; in_final_rootfs?: boolean; where?: string }[];
  config: { ExposedPorts: string[]; Env_secrets: string[] };
}

describe('the bench fixtures', () => {
  test('debian-app: exactly the planted secrets (the deleted one with the layer that deleted it), the setuid/setgid files, the config findings', async (t) => {
    if (!fixtures(t)) return;
    const truth = JSON.parse(await fsp.readFile(join(FIXTURES, 'debian-app.truth.json'), 'utf8')) as Truth;
    const r = await scanRef(`oci:${FIXTURES}/debian-app:latest`, (p) => p === 'var/lib/dpkg/status');
    const fileSecrets = truth.secrets.filter((s) => s.path);
    const kindOf: Record<string, string> = { aws_access_key_id: 'aws-access-key-id', rsa_private_key: 'private-key' };
    assert.deepEqual(
      r.secrets.map((s) => ({ rule: s.rule, path: s.path, layer: s.layer, final: s.inFinalFilesystem, hiddenBy: s.hiddenByLayer })).sort((a, b) => a.path.localeCompare(b.path)),
      fileSecrets
        .map((s) => ({ rule: kindOf[s.kind]!, path: s.path!, layer: s.layer! + 1, final: s.in_final_rootfs!, hiddenBy: s.deleted_in_layer === undefined ? undefined : s.deleted_in_layer + 1 }))
        .sort((a, b) => a.path.localeCompare(b.path)),
    );
    const aws = r.secrets.find((s) => s.rule === 'aws-access-key-id')!;
    assert.equal(aws.line, fileSecrets.find((s) => s.kind === 'aws_access_key_id')!.line);
    assert.equal(aws.secret, fileSecrets.find((s) => s.kind === 'aws_access_key_id')!.value);
    assert.doesNotMatch(aws.redacted, /WHARFBENCHFAKE/);

    const special = (m: string): string[] => [m[3] === 's' ? 'setuid' : '', m[6] === 's' ? 'setgid' : ''].filter(Boolean);
    const expected = [
      ...truth.base_suid_sgid.flatMap((f) => special(f.mode).map((k) => `${k} ${f.path} 1`)),
      ...truth.suid.map((f) => `setuid ${f.path} ${f.layer + 1}`),
    ].sort();
    assert.deepEqual(r.permissions.filter((p) => p.kind === 'setuid' || p.kind === 'setgid').map((p) => `${p.kind} ${p.path} ${p.layer}`).sort(), expected);
    assert.ok(r.files.get('var/lib/dpkg/status')!.length > 10_000, 'the wanted file was kept');

    const lint = lintConfig(r.config);
    const envSecrets = lint.filter((f) => f.rule === 'secret-in-env').map((f) => f.secret);
    assert.deepEqual(envSecrets, truth.config.Env_secrets);
    assert.deepEqual(lint.filter((f) => f.rule === 'privileged-port').map((f) => f.value), truth.config.ExposedPorts.filter((p) => Number(p.split('/')[0]) < 1024));
    assert.ok(lint.some((f) => f.rule === 'runs-as-root'));
    assert.ok(lint.some((f) => f.rule === 'no-healthcheck'));
    assert.deepEqual(lint.filter((f) => f.rule === 'secret-in-label' || f.rule === 'secret-in-history'), []);
  });

  test("debian: no secret in the base image's 6,657 files; setuid, setgid and world-writable exactly as GNU tar lists the layer", async (t) => {
    if (!fixtures(t)) return;
    const r = await scanRef(`oci:${FIXTURES}/debian:latest`);
    assert.deepEqual(r.secrets, []);
    const image = await openImage(parseReference(`oci:${FIXTURES}/debian:latest`));
    const blob = join(FIXTURES, 'debian', 'blobs', 'sha256', image.layers[0]!.digest.slice(7));
    await image.close();
    // GNU tar -tv: "-rwsr-xr-x root/root 72000 2023-03-23 07:53 ./usr/bin/chfn"
    const listing = execFileSync('tar', ['-tvzf', blob, '--numeric-owner'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const theirs: string[] = [];
    for (const line of listing.split('\n').filter(Boolean)) {
      const m = /^(\S+)\s+\S+\s+\d+\s+\S+\s+\S+\s+(.*)$/.exec(line);
      assert.ok(m, `a tar listing line: ${line}`);
      const perm = m[1]!;
      const path = `/${m[2]!.replace(/ -> .*$/, '').replace(/ link to .*$/, '').replace(/^\.\//, '').replace(/\/$/, '')}`;
      const type = perm[0];
      const regular = type === '-' || type === 'h';
      if (regular && perm[3] === 's') theirs.push(`setuid ${path}`);
      if (regular && perm[6] === 's') theirs.push(`setgid ${path}`);
      if (type !== 'l' && perm[8] === 'w' && !(type === 'd' && (perm[9] === 't' || perm[9] === 'T'))) theirs.push(`world-writable ${path}`);
    }
    assert.ok(theirs.length >= 11, 'the base image has setuid programs');
    assert.deepEqual(r.permissions.filter((p) => p.kind !== 'capabilities').map((p) => `${p.kind} ${p.path}`).sort(), theirs.sort());
  });
});

describe('readImageFiles on built images', () => {
  test('a secret replaced by a later layer, one hidden by an opaque directory, one never touched: each with its layers', async (t) => {
    const dir = await tempDir(t, 'wharf-scan-');
    const key = `AKIA${'Q'.repeat(16)}`;
    const layout = await buildLayout(join(dir, 'l'), [{
      tag: 'v1',
      layers: [
        [{ path: 'app/.env', content: `AWS_KEY=${key}\n` }, { path: 'data/creds.yaml', content: 'password: s3cr3t-value\n' }, { path: 'keep/id_ed25519', content: '-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n' }],
        [{ path: 'app/.env', content: 'AWS_KEY=\n' }],
        [{ path: 'data/.wh..wh..opq', content: '' }, { path: 'data/new', content: 'n' }],
      ],
    }]);
    const r = await scanRef(`oci:${layout.dir}:v1`);
    assert.deepEqual(
      r.secrets.map((s) => `${s.rule} ${s.path} L${s.layer} ${s.inFinalFilesystem ? 'final' : `hidden by L${s.hiddenByLayer}`}`).sort(),
      ['aws-access-key-id /app/.env L1 hidden by L2', 'password-in-config /data/creds.yaml L1 hidden by L3', 'private-key /keep/id_ed25519 L1 final'],
    );
  });

  test('world-writable: a 0777 file and a 0777 directory are reported, a 1777 directory (like /tmp) and symlinks are not; g+s without g+x is not setgid; a security.capability xattr is a file capability', async (t) => {
    const dir = await tempDir(t, 'wharf-scan-');
    const layout = await buildLayout(join(dir, 'l'), [{
      tag: 'v1',
      layers: [[
        { path: 'ww', content: 'x', mode: 0o777 },
        { path: 'wwdir', type: 'dir', mode: 0o777 },
        { path: 'tmp', type: 'dir', mode: 0o1777 },
        { path: 'link', type: 'symlink', linkTarget: 'ww' },
        { path: 'locking', content: 'x', mode: 0o2644 },
        // cap_net_bind_service=+ep, as setcap writes it (vfs_cap_data revision 2).
        { path: 'ping', content: 'x', mode: 0o755, xattrs: { 'security.capability': Buffer.from('0100000200040000000000000000000000000000', 'hex') } },
        { path: 'plain', content: 'x', mode: 0o755, xattrs: { 'user.note': 'not a capability' } },
      ]],
    }]);
    const r = await scanRef(`oci:${layout.dir}:v1`);
    assert.deepEqual(r.permissions.map((p) => `${p.kind} ${p.path}`).sort(), ['capabilities /ping', 'world-writable /ww', 'world-writable /wwdir']);
  });
});

describe('findSecrets', () => {
  const cases: [string, string, string | undefined][] = [
    ['a.txt', `key ghp_${'a1'.repeat(18)}`, 'github-token'],
    ['a.txt', `github_pat_${'A'.repeat(82)}`, 'github-fine-grained-token'],
    ['a.txt', `glpat-${'x'.repeat(20)}`, 'gitlab-token'],
    ['a.txt', 'xoxb-123456789012-abcdefABCDEF', 'slack-token'],
    ['a.txt', `AIza${'B'.repeat(35)}`, 'google-api-key'],
    ['a.txt', `sk_live_${'c'.repeat(24)}`, 'stripe-secret-key'],
    ['a.txt', `//registry.npmjs.org/:_authToken=npm_${'d'.repeat(36)}`, 'npm-token'],
    ['a.txt', `aws_secret_access_key = ${'e'.repeat(40)}`, 'aws-secret-access-key'],
    ['a.txt', '-----BEGIN EC PRIVATE KEY-----', 'private-key'],
    ['etc/app.conf', 'db_password = hunter22', 'password-in-config'],
    // Near misses: no alarm.
    ['a.txt', `ghp_${'a'.repeat(10)}`, undefined],
    ['a.txt', `XAKIA${'Q'.repeat(16)}`, undefined],
    ['a.txt', '-----BEGIN PUBLIC KEY-----', undefined],
    ['etc/app.conf', 'password = ${DB_PASSWORD}', undefined],
    ['etc/app.conf', 'password: <your password here>', undefined],
    ['etc/app.conf', '# password = hunter22', undefined],
    ['etc/nsswitch.conf', 'passwd:         files', undefined],
    ['usr/share/doc/x.txt', 'password = hunter22', undefined],
  ];
  for (const [path, text, rule] of cases) {
    test(`${rule ?? 'nothing'}: ${JSON.stringify(text).slice(0, 60)} in ${path}`, () => {
      assert.deepEqual(findSecrets(path, Buffer.from(`first line\n${text}\n`)).map((m) => [m.rule, m.line]), rule ? [[rule, 2]] : []);
    });
  }

  test('redaction keeps at most four characters', () => {
    assert.equal(redact('AKIAWHARFBENCHFAKE01'), 'AKIA****************');
    assert.equal(redact('abc'), '****');
  });

  test('attack: a 10 MB single-line file and a binary file with a key in it: bounded, no crash, binaries not read as text', () => {
    const big = Buffer.alloc(10 << 20, 'a');
    assert.deepEqual(findSecrets('a.txt', big), []);
    const withKey = Buffer.concat([Buffer.from('password='.repeat(200_000)), Buffer.from(`AKIA${'Q'.repeat(16)}`)]);
    assert.equal(findSecrets('x.conf', withKey).length <= 100, true, 'matches per file are capped');
    const binary = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]), Buffer.from(`AKIA${'Q'.repeat(16)}`)]);
    assert.deepEqual(findSecrets('bin/tool', binary), []);
  });
});

describe('lintConfig', () => {
  const base = (c: Record<string, unknown>, history: { created_by: string }[] = []): ImageConfig => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: c, history });
  test('a non-root user with a healthcheck and no secrets: nothing', () => {
    assert.deepEqual(lintConfig(base({ User: 'app', Env: ['PATH=/bin', 'TOKEN_URL=https://x', 'PASSWORD='], Healthcheck: { Test: ['CMD', 'true'] }, ExposedPorts: { '8080/tcp': {} } })), []);
  });
  test('root in its spellings, secrets in env, labels and history, ADD from a URL', () => {
    for (const user of ['', 'root', '0', '0:0', 'root:wheel']) assert.ok(lintConfig(base({ User: user })).some((f) => f.rule === 'runs-as-root'), user);
    const f = lintConfig(base({ User: 'app', Labels: { 'db.password': 'pa55word!' }, Env: [`GITHUB=ghp_${'a'.repeat(36)}`] }, [{ created_by: '/bin/sh -c export API_KEY=abcd1234 && make' }, { created_by: '/bin/sh -c #(nop) ADD https://example.com/x.tgz /x' }]));
    assert.deepEqual(f.map((x) => x.rule).sort(), ['add-from-url', 'no-healthcheck', 'secret-in-env', 'secret-in-history', 'secret-in-label']);
    for (const x of f) if (x.value) assert.doesNotMatch(x.value, /abcd1234|pa55word|aaaaaaaaaaaa/);
  });
});
