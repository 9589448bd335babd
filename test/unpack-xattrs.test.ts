/**
 * Extended attributes in `unpackImage` (src/layer/xattrs.ts): the layers' SCHILY.xattr.* records are set with
 * setfattr, as getfattr reads them back; a later layer replaces a path's set, whiteouts drop it, a hard link
 * keeps its inode's; rootless, owners go into user.rootlesscontainers byte for byte as `umoci unpack --rootless`
 * writes them (also as a real unprivileged user, on read-only files), and security.* and trusted.* are skipped with
 * one warning; a missing setfattr or a refusal is a warning, never a failure. Hostile layers (a test named after
 * each attack) set nothing outside the target.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { parseReference } from '../src/index.js';
import { unpackImage, type UnpackImageOptions } from '../src/filesystem/unpack.js';
import { applyXattrs, encodeRootlessResource, NOOP_ID, quote } from '../src/layer/xattrs.js';
import { buildLayout, type FileSpec, type LayerSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

const execFileP = promisify(execFile);
const isRoot = process.getuid?.() === 0;

/** name → value (hex) of every path under root that has any, from `getfattr -R -P -d -m - -h -e hex .` run in root. */
async function dumpTree(root: string): Promise<Map<string, Record<string, string>>> {
  const { stdout } = await execFileP('getfattr', ['-R', '-P', '-d', '-m', '-', '-h', '-e', 'hex', '.'], { cwd: root, maxBuffer: 64 << 20 });
  return parseDump(stdout);
}

/** The same for a few paths (relative to root); a path without xattrs is absent from the map. */
async function dumpPaths(root: string, paths: string[]): Promise<Map<string, Record<string, string>>> {
  const { stdout } = await execFileP('getfattr', ['-d', '-m', '-', '-h', '-e', 'hex', '--', ...paths], { cwd: root });
  return parseDump(stdout);
}

function parseDump(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '');
    if (lines.length === 0) continue;
    assert.match(lines[0]!, /^# file: /);
    const attrs: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const eq = line.indexOf('=');
      if (eq < 0) attrs[unquote(line)] = '';
      else attrs[unquote(line.slice(0, eq))] = line.slice(eq + 1);
    }
    out.set(unquote(lines[0]!.slice('# file: '.length)), attrs);
  }
  return out;
}

/** getfattr's `\ooo` escapes back to the bytes (as UTF-8 text). */
function unquote(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(...Buffer.from(s[i]!));
  }
  return Buffer.from(bytes).toString('utf8');
}

const hex = (v: string | Uint8Array): string => `0x${Buffer.from(v).toString('hex')}`;

async function unpack(t: TestContext, layers: FileSpec[][], options: UnpackImageOptions = {}) {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'v1', layers }]);
  const root = join(dir, 'root');
  const warnings: string[] = [];
  const result = await unpackImage(parseReference(`oci:${src.dir}:v1`), root, { onWarning: (w) => warnings.push(w), ...options });
  return { dir, src, root, warnings, result };
}

test('the encoding of user.rootlesscontainers: protobuf Resource{uid=1, gid=2}, varints, zero fields left out', () => {
  assert.equal(encodeRootlessResource(1000, 1000)!.toString('hex'), '08e80710e807');
  assert.equal(encodeRootlessResource(NOOP_ID, 1000)!.toString('hex'), '08ffffffff0f10e807');
  assert.equal(encodeRootlessResource(0, 5)!.toString('hex'), '1005', 'proto3: a zero uid is not written');
  assert.equal(encodeRootlessResource(0, 0)!.length, 0);
  assert.equal(encodeRootlessResource(2 ** 32, 0), undefined, 'not a uint32');
  assert.equal(quote('a b\\c=d\n\u00e9'), 'a\\040b\\134c\\075d\\012\\303\\251');
});

test('xattrs from the layers are set as getfattr reads them; a later layer replaces a set, a whiteout and an opaque directory drop them, a hard link keeps its inode\'s', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  const privileged: Record<string, string> = isRoot ? { 'trusted.wharf': 'as root' } : {};
  const { root, warnings, result } = await unpack(
    t,
    [
      [
        { path: 'f', content: 'one', xattrs: { 'user.a': '1', 'user.bin': Buffer.from([0, 1, 0xff, 0x0a]), ...privileged } },
        { path: 'hl', type: 'hardlink', linkTarget: 'f' },
        { path: 'keep', content: 'k', xattrs: { 'user.keep': 'k' } },
        { path: 'gone', content: 'g', xattrs: { 'user.gone': 'g' } },
        { path: 'd', type: 'dir', mode: 0o555, xattrs: { 'user.dir': 'old' } },
        { path: 'd/child', content: 'c', mode: 0o444, xattrs: { 'user.child': 'c', 'user.empty': '' } },
        { path: 'o/old', content: 'o', xattrs: { 'user.old': 'o' } },
      ],
      [
        { path: 'f', content: 'two', xattrs: { 'user.b': '2' } },
        { path: '.wh.gone', content: '' },
        { path: 'd', type: 'dir', mode: 0o555, xattrs: { 'user.dir': 'new', 'user.dir2': '2' } },
        { path: 'o/.wh..wh..opq', content: '' },
        { path: 'o/new', content: 'n', xattrs: { 'user.new': 'n' } },
      ],
    ],
    { isRoot },
  );
  const got = await dumpTree(root);
  assert.deepEqual(got.get('f'), { 'user.b': hex('2') }, 'the later entry replaced the whole set');
  assert.deepEqual(got.get('hl'), { 'user.a': hex('1'), 'user.bin': '0x0001ff0a', ...(isRoot ? { 'trusted.wharf': hex('as root') } : {}) }, 'the old inode keeps its own');
  assert.deepEqual(got.get('keep'), { 'user.keep': hex('k') });
  assert.ok(!got.has('gone') && !got.has('o/old'), 'whited out, and hidden by the opaque directory');
  assert.deepEqual(got.get('d'), { 'user.dir': hex('new'), 'user.dir2': hex('2') });
  assert.deepEqual(got.get('d/child'), { 'user.child': hex('c'), 'user.empty': '0x' }, 'in a read-only directory, a read-only file');
  assert.deepEqual(got.get('o/new'), { 'user.new': hex('n') });
  assert.equal([...got.keys()].sort().join(' '), 'd d/child f hl keep o/new', 'nothing else has any');
  assert.equal(result.xattrs, 9 + (isRoot ? 1 : 0));
  assert.equal(result.skipped.xattr, undefined, warnings.join('\n'));
  // Modes and times are those of the image (directories' applied after the attributes).
  assert.equal((await fsp.stat(join(root, 'd'))).mode & 0o7777, 0o555);
  assert.equal((await fsp.stat(join(root, 'd/child'))).mtime.getTime(), 1_700_000_000_000);
});

const OWNERS: FileSpec[][] = [
  [
    { path: 'etc', type: 'dir' },
    { path: 'etc/app.conf', content: 'x', uid: 1000, gid: 1000, xattrs: { 'user.note': 'kept' } },
    { path: 'home', type: 'dir', mode: 0o755, uid: 0, gid: 1000 },
    { path: 'home/app', type: 'dir', mode: 0o700, uid: 1000, gid: 0 },
    { path: 'home/app/ro', content: 'read-only', mode: 0o444, uid: 1000, gid: 1000 },
    { path: 'home/app/ro-link', type: 'hardlink', linkTarget: 'home/app/ro' },
    { path: 'home/app/sym', type: 'symlink', linkTarget: 'ro', uid: 1000, gid: 1000 },
    { path: 'rootfile', content: 'r' },
    // A layer's own record is not trusted: the owner comes from the header (umoci drops it too).
    { path: 'forged', content: 'f', xattrs: { 'user.rootlesscontainers': encodeRootlessResource(7, 7)! } },
    { path: 'changes', content: 'c', uid: 1000, gid: 1000 },
    { path: 'removed', content: 'r', uid: 1000, gid: 1000 },
  ],
  [
    { path: 'changes', content: 'c2', uid: 2000, gid: 3000 },
    { path: '.wh.removed', content: '' },
  ],
];

test('rootless: owners recorded in user.rootlesscontainers byte for byte as umoci unpack --rootless writes them', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr') || !requirePeer(t, 'umoci')) return;
  const { dir, src, root, warnings } = await unpack(t, OWNERS, { isRoot: false });
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${src.dir}:v1`, join(dir, 'umoci')]);
  const ours = await dumpTree(root);
  const theirs = await dumpTree(join(dir, 'umoci', 'rootfs'));
  assert.deepEqual(Object.fromEntries([...ours].sort()), Object.fromEntries([...theirs].sort()), 'the same xattrs on the same paths');
  // And what the spec says, spelt out (0 is written as NoopID, (uint32)-1: "unchanged", as umoci does).
  const rc = (path: string) => ours.get(path)?.['user.rootlesscontainers'];
  assert.equal(rc('etc/app.conf'), '0x08e80710e807', 'a file owned 1000:1000');
  assert.equal(ours.get('etc/app.conf')?.['user.note'], hex('kept'));
  assert.equal(rc('home'), '0x08ffffffff0f10e807', 'a directory owned 0:1000');
  assert.equal(rc('home/app'), '0x08e80710ffffffff0f', 'a directory owned 1000:0');
  assert.equal(rc('home/app/ro'), '0x08e80710e807', 'a read-only file');
  assert.equal(rc('home/app/ro-link'), '0x08e80710e807', 'its hard link: the same inode');
  assert.equal(rc('changes'), `0x${encodeRootlessResource(2000, 3000)!.toString('hex')}`, 'the later layer\'s owner');
  for (const p of ['rootfile', 'forged', 'home/app/sym', 'etc', '.']) assert.ok(!ours.has(p), `${p}: 0:0, a forged record, or a symlink: nothing`);
  assert.ok(warnings.some((w) => /forged: the layer's own user\.rootlesscontainers is ignored/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /home\/app\/sym: the owner 1000:1000 of a symlink is not recorded/.test(w)), warnings.join('\n'));
  assert.equal((await fsp.stat(join(root, 'home/app/ro'))).mode & 0o7777, 0o444, 'the mode is the image\'s');
});

test('rootless as a real unprivileged user: read-only files and directories get their records, modes are kept', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  if (isRoot && !requirePeer(t, 'setpriv', 'util-linux')) return;
  const dir = await tempDir(t);
  await fsp.chmod(dir, 0o755);
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'v1', layers: OWNERS }]);
  const work = join(dir, 'work');
  await fsp.mkdir(work);
  const root = join(work, 'root');
  if (isRoot) {
    // The same unpack in a child that runs as nobody (what `wharf unpack` does for a user).
    await fsp.chown(work, 65534, 65534);
    const script = `
      const { unpackImage } = await import(${JSON.stringify(new URL('../src/filesystem/unpack.js', import.meta.url).href)});
      const { parseReference } = await import(${JSON.stringify(new URL('../src/index.js', import.meta.url).href)});
      const r = await unpackImage(parseReference(${JSON.stringify(`oci:${src.dir}:v1`)}), ${JSON.stringify(root)}, { isRoot: false, onWarning: (w) => console.error(w) });
      console.log(JSON.stringify(r));`;
    const { stdout } = await execFileP('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { cwd: work });
    assert.equal(JSON.parse(stdout).skipped.xattr, 2, 'the forged record and the symlink\'s owner');
  } else {
    const r = await unpackImage(parseReference(`oci:${src.dir}:v1`), root, { isRoot: false });
    assert.equal(r.skipped.xattr, 2, 'the forged record and the symlink\'s owner');
  }
  const got = await dumpTree(root);
  assert.equal(got.get('home/app/ro')?.['user.rootlesscontainers'], '0x08e80710e807', 'a 0444 file');
  assert.equal(got.get('home')?.['user.rootlesscontainers'], '0x08ffffffff0f10e807');
  assert.equal(got.get('home/app')?.['user.rootlesscontainers'], '0x08e80710ffffffff0f', 'a 0700 directory');
  assert.equal((await fsp.stat(join(root, 'home/app/ro'))).mode & 0o7777, 0o444, 'made writable only for the moment');
  assert.equal((await fsp.stat(join(root, 'home/app'))).mode & 0o7777, 0o700);
});

test('rootless: security.* and trusted.* are skipped with one warning, the user.* beside them still set', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_bind_service, VFS v2
  const { root, warnings, result } = await unpack(t, [[
    { path: 'bin/ping', content: 'elf', mode: 0o755, xattrs: { 'security.capability': cap, 'user.a': '1' } },
    { path: 'bin/other', content: 'elf', xattrs: { 'security.capability': cap, 'trusted.overlay.opaque': 'y' } },
    { path: 'labelled', content: 'x', xattrs: { 'security.selinux': 'system_u:object_r:bin_t:s0' } },
  ]], { isRoot: false });
  const got = await dumpPaths(root, ['bin/ping', 'bin/other', 'labelled']);
  assert.deepEqual(got.get('bin/ping'), { 'user.a': hex('1') });
  assert.ok(!got.has('bin/other') && !got.has('labelled'));
  assert.equal(result.skipped.xattr, 4);
  assert.equal(warnings.filter((w) => /security\.\* and trusted\.\* extended attributes need root/.test(w)).length, 1, warnings.join('\n'));
  assert.ok(warnings.some((w) => /security\.selinux is host-specific/.test(w)), 'never taken from an image, even as root');
});

test('without setfattr: one warning naming the attr package, counted in skipped.xattr; the unpack succeeds', async (t) => {
  const { root, warnings, result } = await unpack(
    t,
    [[{ path: 'a', content: 'a', xattrs: { 'user.a': '1', 'user.b': '2' } }, { path: 'b', content: 'b', uid: 1000, gid: 1000 }]],
    { isRoot: false, setfattr: '/nonexistent/setfattr' },
  );
  assert.equal(await fsp.readFile(join(root, 'a'), 'utf8'), 'a');
  assert.equal(result.skipped.xattr, 3, 'two from the layer, one owner record');
  assert.equal(result.xattrs, 0);
  assert.deepEqual(warnings.filter((w) => /setfattr/.test(w)), ['3 extended attributes are not set: setfattr was not found (install the attr package: apt-get install -y attr)']);
});

test('what the filesystem refuses is one warning, never a failure: the other attributes are set', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  // No such namespace: setxattr(2) says EOPNOTSUPP, as a filesystem without user xattrs (tmpfs before 6.6) does.
  const { root, warnings, result } = await unpack(t, [[
    { path: 'a', content: 'a', xattrs: { 'nonamespace.x': '1', 'other.y': '2' } },
    { path: 'b', content: 'b', xattrs: { 'user.ok': 'yes' } },
  ]], { isRoot });
  assert.deepEqual((await dumpPaths(root, ['b'])).get('b'), { 'user.ok': hex('yes') });
  assert.equal(result.skipped.xattr, 2);
  assert.equal(result.xattrs, 1);
  const refused = warnings.filter((w) => /could not be set/.test(w));
  assert.equal(refused.length, 1, warnings.join('\n'));
  assert.match(refused[0]!, /^2 of 3 extended attributes could not be set \(setfattr: a: Operation not supported\)$/);
});

// ---- hostile layers: nothing is set outside the target --------------------------------------------------------

async function hostile(t: TestContext, layers: (outside: string) => LayerSpec[]) {
  const dir = await tempDir(t);
  const outside = join(dir, 'outside');
  await fsp.mkdir(outside);
  await fsp.writeFile(join(outside, 'victim'), 'untouched');
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'v1', layers: layers(outside) }]);
  const root = join(dir, 'root');
  const warnings: string[] = [];
  const result = await unpackImage(parseReference(`oci:${src.dir}:v1`), root, { isRoot, onWarning: (w) => warnings.push(w) });
  assert.deepEqual(await dumpTree(outside), new Map(), 'no xattr set outside the target');
  assert.deepEqual(await fsp.readdir(outside), ['victim']);
  assert.equal(await fsp.readFile(join(outside, 'victim'), 'utf8'), 'untouched');
  return { root, outside, warnings, result };
}

test('attack: a directory whose files carry xattrs, replaced by a symlink to a host directory in a later layer, sets nothing through it', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  const r = await hostile(t, (outside) => [
    [{ path: 'd', type: 'dir' }, { path: 'd/victim', content: 'inside', xattrs: { 'user.pwned': '1' } }],
    [{ path: 'd', type: 'symlink', linkTarget: outside }],
  ]);
  assert.ok((await fsp.lstat(join(r.root, 'd'))).isSymbolicLink());
  assert.equal(r.result.xattrs, 0, 'the set went with the directory');
  assert.equal(r.result.skipped.xattr, undefined, 'dropped with the directory, not caught by applyXattrs\'s own check');
});

test('attack: applyXattrs handed a path through a symlink, or with .. (a bug upstream), sets nothing outside the root', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  const dir = await tempDir(t);
  const outside = join(dir, 'outside');
  const root = join(dir, 'root');
  await fsp.mkdir(outside);
  await fsp.mkdir(root);
  await fsp.writeFile(join(outside, 'victim'), 'untouched');
  await fsp.writeFile(join(root, 'fine'), 'inside');
  await fsp.symlink(outside, join(root, 'up'));
  const skipped: string[] = [];
  const v = Buffer.from('1');
  const set = await applyXattrs(root, [
    { path: 'up/victim', attrs: [['user.pwned', v]] },
    { path: '../outside/victim', attrs: [['user.pwned', v]] },
    { path: 'fine', attrs: [['user.ok', v]] },
  ], { privileged: isRoot, skip: (cause, message, count = 1) => skipped.push(`${cause} ${count} ${message}`) });
  assert.equal(set, 1);
  assert.deepEqual(await dumpTree(outside), new Map());
  assert.deepEqual((await dumpPaths(root, ['fine'])).get('fine'), { 'user.ok': hex('1') });
  assert.equal(skipped.length, 2, skipped.join('\n'));
  assert.ok(skipped.every((s) => s.startsWith('xattr-path 1 ')), skipped.join('\n'));
});

test('attack: xattrs on a file written through a planted symlink land inside the target', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  let planted = '';
  const r = await hostile(t, (outside) => {
    planted = join(outside.slice(1), 'victim');
    // No directory entry for esc/ in the second layer: it would replace the symlink (as in both tools).
    return [[{ path: 'esc', type: 'symlink', linkTarget: outside }], { implicitDirs: false, files: [{ path: 'esc/victim', content: 'inside', xattrs: { 'user.pwned': '1' } }] }];
  });
  assert.deepEqual((await dumpPaths(r.root, [planted])).get(planted), { 'user.pwned': hex('1') }, 'at ROOT/<the host path>');
});

test('attack: a symlink entry carrying xattrs, pointing at a host file, never sets them on the host file', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  const r = await hostile(t, (outside): LayerSpec[] => [[
    { path: 'link', type: 'symlink', linkTarget: join(outside, 'victim'), xattrs: { 'user.pwned': '1', 'trusted.pwned': '1' } },
    { path: 'rel', type: 'symlink', linkTarget: '../outside/victim', xattrs: { 'trusted.pwned': '2' } },
  ]]);
  // user.* cannot go on a symlink; as root trusted.* goes on the link itself (setfattr -h), never on its target.
  const got = await dumpPaths(r.root, ['link', 'rel']);
  if (isRoot) assert.deepEqual(Object.fromEntries(got), { link: { 'trusted.pwned': hex('1') }, rel: { 'trusted.pwned': hex('2') } });
  else assert.equal(got.size, 0);
  assert.ok(r.warnings.some((w) => /user\.pwned is not set: Linux allows user\.\* extended attributes on files and directories only/.test(w)), r.warnings.join('\n'));
});

test('attack: a file name or an xattr name with newlines and "# file:" lines cannot inject a path into the setfattr input', async (t) => {
  if (!requirePeer(t, 'setfattr', 'attr') || !requirePeer(t, 'getfattr', 'attr')) return;
  let name = '';
  let attr = '';
  const r = await hostile(t, (outside) => {
    const inject = `\n\n# file: ${join(outside, 'victim')}\nuser.pwned=0x31\n`;
    name = `x${inject}`;
    attr = `user.a${inject.replace(/=/g, ':')}`;
    return [[{ path: name, content: 'odd', xattrs: { 'user.ok': 'yes' } }, { path: 'plain', content: 'p', xattrs: { [attr]: 'v' } }]];
  });
  const got = await dumpTree(r.root);
  assert.deepEqual(got.get(name), { 'user.ok': hex('yes') }, 'the file with the odd name has its own');
  assert.deepEqual(got.get('plain'), { [attr]: hex('v') }, 'the odd name set as it is');
  assert.equal(r.result.skipped.xattr, undefined, r.warnings.join('\n'));
});
