import assert from 'node:assert/strict';
import { chmod, mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AuthStore,
  authFileCandidates,
  authFileForWriting,
  removeAll,
  removeCredentials,
  setCredentials,
  type HelperOptions,
} from '../src/config/index.js';
import { WharfError } from '../src/errors.js';

let root: string;
let n = 0;
let binDir: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'wharf-auth-'));
  binDir = join(root, 'bin');
  await mkdir(binDir);
  await writeFile(join(binDir, 'docker-credential-test'), FAKE_HELPER, { mode: 0o755 });
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

async function authFile(doc: unknown, name = 'auth.json'): Promise<string> {
  const dir = join(root, `f${n++}`);
  await mkdir(dir, { recursive: true });
  const p = join(dir, name);
  await writeFile(p, typeof doc === 'string' || Buffer.isBuffer(doc) ? doc : JSON.stringify(doc));
  return p;
}

/** An error that is an AUTH_FILE_INVALID (or `code`) WharfError and leaks none of `secrets` anywhere. */
function cleanError(secrets: string[], code = 'AUTH_FILE_INVALID', re?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WharfError, String(err));
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    const text = `${err.message}\n${err.hint ?? ''}\n${err.stack ?? ''}\n${String(err.cause ?? '')}\n${JSON.stringify(err)}`;
    for (const s of secrets) assert.ok(!text.includes(s), `error text leaks ${JSON.stringify(s)}: ${text}`);
    assert.equal(err.cause, undefined);
    return true;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A fake docker-credential-test: a JSON store in $FAKE_STORE, every call logged to $FAKE_LOG.
const FAKE_HELPER = `#!${process.execPath}
const fs = require('fs');
const verb = process.argv[2];
const store = process.env.FAKE_STORE;
const log = process.env.FAKE_LOG;
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const db = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, 'utf8')) : {};
  const save = () => fs.writeFileSync(store, JSON.stringify(db));
  if (log) fs.appendFileSync(log, verb + ' ' + (verb === 'store' ? JSON.parse(input).ServerURL : input) + '\\n');
  if (db.__fail__) { process.stdout.write('keyring is locked'); process.exit(1); }
  if (db.__garbage__) { process.stdout.write('Secret: hunter2'); process.exit(0); }
  if (verb === 'get') {
    const c = db[input];
    if (!c) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input, Username: c.Username, Secret: c.Secret }));
  } else if (verb === 'store') {
    const c = JSON.parse(input);
    db[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
    save();
  } else if (verb === 'erase') {
    if (!db[input]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    delete db[input];
    save();
  } else { process.stdout.write('unknown verb'); process.exit(1); }
});
`;

interface Fake {
  opts: HelperOptions;
  storePath: string;
  logPath: string;
  db(): Promise<Record<string, { Username: string; Secret: string }>>;
  log(): Promise<string[]>;
}

async function fakeHelper(initial: Record<string, unknown> = {}): Promise<Fake> {
  const dir = join(root, `h${n++}`);
  await mkdir(dir);
  const storePath = join(dir, 'store.json');
  const logPath = join(dir, 'log');
  await writeFile(storePath, JSON.stringify(initial));
  return {
    // Only the child's PATH has the fake helper on it; nothing in src/config reads the process environment.
    opts: { helperEnv: { PATH: `${binDir}:/usr/bin:/bin`, FAKE_STORE: storePath, FAKE_LOG: logPath } },
    storePath,
    logPath,
    db: async () => JSON.parse(await readFile(storePath, 'utf8')),
    log: async () => (await readFile(logPath, 'utf8').catch(() => '')).split('\n').filter(Boolean),
  };
}

// ---------------------------------------------------------------------------------------------------------------
describe('authFileCandidates', () => {
  const env = { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' };

  test('the containers-auth.json(5) order', () => {
    assert.deepEqual(authFileCandidates(env), [
      '/run/user/1000/containers/auth.json',
      '/home/u/.config/containers/auth.json',
      '/home/u/.docker/config.json',
      '/home/u/.dockercfg',
    ]);
  });

  test('XDG_CONFIG_HOME and DOCKER_CONFIG move their files', () => {
    assert.deepEqual(authFileCandidates({ ...env, XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dc' }), [
      '/run/user/1000/containers/auth.json',
      '/cfg/containers/auth.json',
      '/dc/config.json',
      '/home/u/.dockercfg',
    ]);
  });

  test('without XDG_RUNTIME_DIR, /run/containers/UID', () => {
    assert.deepEqual(authFileCandidates({ HOME: '/home/u', uid: 1234 })[0], '/run/containers/1234/auth.json');
    assert.deepEqual(authFileCandidates({}), []);
  });

  test('a file the user chose is the only one read', () => {
    assert.deepEqual(authFileCandidates({ ...env, REGISTRY_AUTH_FILE: '/ci/auth.json' }), ['/ci/auth.json']);
    assert.deepEqual(authFileCandidates({ ...env, REGISTRY_AUTH_FILE: '/ci/auth.json' }, '/flag.json'), ['/flag.json']);
  });

  test('writing goes to the first of --authfile, REGISTRY_AUTH_FILE, XDG auth.json', () => {
    assert.equal(authFileForWriting({ ...env, REGISTRY_AUTH_FILE: '/r.json' }, '/flag.json'), '/flag.json');
    assert.equal(authFileForWriting({ ...env, REGISTRY_AUTH_FILE: '/r.json' }), '/r.json');
    assert.equal(authFileForWriting(env), '/run/user/1000/containers/auth.json');
    assert.throws(() => authFileForWriting({ HOME: '/home/u' }), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('AuthStore.lookup', () => {
  test('most specific namespace first', async () => {
    const f = await authFile({
      auths: {
        'registry.example.com': { auth: b64('host:h') },
        'registry.example.com/team': { auth: b64('team:t') },
        'registry.example.com/team/app': { auth: b64('app:a') },
      },
    });
    const store = await AuthStore.load([f]);
    assert.deepEqual(await store.lookup('registry.example.com/team/app'), { username: 'app', password: 'a' });
    assert.deepEqual(await store.lookup('registry.example.com/team/app/sub'), { username: 'app', password: 'a' });
    assert.deepEqual(await store.lookup('registry.example.com/team/other'), { username: 'team', password: 't' });
    assert.deepEqual(await store.lookup('registry.example.com/x'), { username: 'host', password: 'h' });
    assert.deepEqual(await store.lookup('registry.example.com'), { username: 'host', password: 'h' });
    assert.equal(await store.lookup('other.example.com/team/app'), undefined);
    assert.equal(await store.lookup('registry.example.com:5000/team'), undefined);
  });

  test('a password may contain colons; NULs around it are trimmed as Go does', async () => {
    const f = await authFile({ auths: { 'a.io': { auth: b64('me:pa:ss:word') }, 'b.io': { auth: b64('me:pw\u0000\u0000') } } });
    const store = await AuthStore.load([f]);
    assert.deepEqual(await store.lookup('a.io'), { username: 'me', password: 'pa:ss:word' });
    assert.deepEqual(await store.lookup('b.io/x'), { username: 'me', password: 'pw' });
  });

  test('docker.io also matches Docker\'s https://index.docker.io/v1/ and index.docker.io keys', async () => {
    const hub = await authFile({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:h') } } }, 'config.json');
    const store = await AuthStore.load([hub]);
    assert.deepEqual(await store.lookup('docker.io/library/alpine'), { username: 'hub', password: 'h' });
    assert.deepEqual(await store.lookup('docker.io'), { username: 'hub', password: 'h' });
    const idx = await authFile({ auths: { 'index.docker.io': { auth: b64('idx:i') } } });
    assert.deepEqual(await (await AuthStore.load([idx])).lookup('docker.io/user/app'), { username: 'idx', password: 'i' });
    const url = await authFile({ auths: { 'https://registry.example.com/v2/': { auth: b64('u:p') } } });
    assert.deepEqual(await (await AuthStore.load([url])).lookup('registry.example.com/x'), { username: 'u', password: 'p' });
  });

  test('identity tokens', async () => {
    const f = await authFile({ auths: { 'a.io': { auth: b64('me:'), identitytoken: 'refresh-token' }, 'b.io': { identitytoken: 'tok' } } });
    const store = await AuthStore.load([f]);
    assert.deepEqual(await store.lookup('a.io'), { identityToken: 'refresh-token', username: 'me' });
    assert.deepEqual(await store.lookup('b.io'), { identityToken: 'tok' });
  });

  test('files in order; missing files skipped; the first file with an entry wins', async () => {
    const first = await authFile({ auths: { 'a.io': { auth: b64('first:1') } } });
    const second = await authFile({ auths: { 'a.io/ns': { auth: b64('second:2') }, 'b.io': { auth: b64('second:b') } } });
    const store = await AuthStore.load([join(root, 'missing.json'), first, second]);
    assert.deepEqual(store.files, [first, second]);
    // A host entry in an earlier file beats a namespace entry in a later one (containers/image's order).
    assert.deepEqual(await store.lookup('a.io/ns/app'), { username: 'first', password: '1' });
    assert.deepEqual(await store.lookup('b.io'), { username: 'second', password: 'b' });
    assert.deepEqual(await store.find('b.io'), { credentials: { username: 'second', password: 'b' }, source: second });
  });

  test('an empty {} entry (left by a helper) means no credentials in that file', async () => {
    const first = await authFile({ auths: { 'a.io': {} } });
    const second = await authFile({ auths: { 'a.io': { auth: b64('u:p') } } });
    const store = await AuthStore.load([first, second]);
    assert.deepEqual(await store.lookup('a.io'), { username: 'u', password: 'p' });
  });

  test('legacy ~/.dockercfg', async () => {
    const f = await authFile({ 'https://index.docker.io/v1/': { auth: b64('old:o'), email: 'x@y' } }, '.dockercfg');
    const store = await AuthStore.load([f]);
    assert.deepEqual(await store.lookup('docker.io/library/busybox'), { username: 'old', password: 'o' });
  });

  test('an empty file is an empty configuration', async () => {
    const f = await authFile('');
    assert.equal(await (await AuthStore.load([f])).lookup('a.io'), undefined);
  });

  test('keys that are not a registry or repository are refused', async () => {
    const store = await AuthStore.load([]);
    for (const bad of ['', 'https://a.io', 'a.io/x:tag', 'a.io/x@sha256:abc', 'A_B/..', 'a.io//x', 'a.io/UPPER']) {
      await assert.rejects(store.lookup(bad), (e: unknown) => e instanceof WharfError && e.code === 'USAGE', bad);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('AuthStore: hostile files', () => {
  const SECRET = 'hunter2-s3cr3t';

  test('not JSON: the position, never the text', async () => {
    // V8's own messages quote the text around the error for some of these; ours must not.
    for (const text of [
      `{"auths": {"a.io": {"auth": "${b64(`me:${SECRET}`)}"}, ${SECRET} }}`,
      `{"auths": {"a.io": {"auth": ${SECRET}}}}`,
      SECRET,
      `{"auths": {"a.io": {"auth": "${SECRET}`,
    ]) {
      const f = await authFile(text);
      const store = await AuthStore.load([f]);
      await assert.rejects(store.lookup('a.io'), cleanError([SECRET, SECRET.slice(0, 6), b64(`me:${SECRET}`)], 'AUTH_FILE_INVALID', /not valid JSON/), text);
    }
  });

  test('auths is not an object', async () => {
    for (const auths of [[], 'x', 5]) {
      const f = await authFile({ auths });
      await assert.rejects((await AuthStore.load([f])).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /"auths" is not an object/));
    }
    const top = await authFile('[1,2]');
    await assert.rejects((await AuthStore.load([top])).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /top level is not a JSON object/));
  });

  test('auth is not base64', async () => {
    const f = await authFile({ auths: { 'a.io': { auth: `${SECRET}!!` } } });
    await assert.rejects((await AuthStore.load([f])).lookup('a.io'), cleanError([SECRET], 'AUTH_FILE_INVALID', /"a\.io": "auth" is not valid base64/));
  });

  test('auth without a colon: an error that does not contain the secret', async () => {
    const f = await authFile({ auths: { 'a.io': { auth: b64(SECRET) } } });
    await assert.rejects((await AuthStore.load([f])).lookup('a.io/x'), cleanError([SECRET, b64(SECRET)], 'AUTH_FILE_INVALID', /does not decode to "user:password"/));
  });

  test('wrong field types', async () => {
    const f = await authFile({ auths: { 'a.io': { auth: 42 }, 'b.io': 'str', 'c.io': { identitytoken: [] } } });
    const store = await AuthStore.load([f]);
    await assert.rejects(store.lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /"auth" is not a string/));
    await assert.rejects(store.lookup('b.io'), cleanError([], 'AUTH_FILE_INVALID', /is not an object/));
    await assert.rejects(store.lookup('c.io'), cleanError([], 'AUTH_FILE_INVALID', /"identitytoken" is not a string/));
    const h = await authFile({ credHelpers: ['x'] });
    await assert.rejects((await AuthStore.load([h])).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /"credHelpers" is not an object/));
  });

  test('a broken entry for another registry does not matter', async () => {
    const f = await authFile({ auths: { 'bad.io': { auth: '!!!' }, 'good.io': { auth: b64('u:p') } } });
    assert.deepEqual(await (await AuthStore.load([f])).lookup('good.io'), { username: 'u', password: 'p' });
  });

  test('a broken later file does not hide credentials in an earlier one', async () => {
    const good = await authFile({ auths: { 'a.io': { auth: b64('u:p') } } });
    const bad = await authFile('not json at all');
    const store = await AuthStore.load([good, bad]);
    assert.deepEqual(await store.lookup('a.io'), { username: 'u', password: 'p' });
    await assert.rejects(store.lookup('b.io'), cleanError([], 'AUTH_FILE_INVALID'));
  });

  test('a huge file is refused', async () => {
    const f = await authFile(`{"auths": {}, "pad": "${'x'.repeat(2 << 20)}"}`);
    await assert.rejects((await AuthStore.load([f])).lookup('a.io'), cleanError([], 'TOO_LARGE', /larger than 1048576 bytes/));
  });

  test('NUL bytes', async () => {
    const f = await authFile(Buffer.from(`{"auths": {"a.io": {"auth": "${b64('u:p')}"}}}\u0000\u0000`));
    await assert.rejects((await AuthStore.load([f])).lookup('a.io'), cleanError([b64('u:p')], 'AUTH_FILE_INVALID', /not valid JSON/));
    const g = await authFile(Buffer.from('\u0000'.repeat(100)));
    await assert.rejects((await AuthStore.load([g])).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID'));
  });

  test('a directory where the file should be', async () => {
    const dir = join(root, `dir${n++}`);
    await mkdir(dir);
    await assert.rejects((await AuthStore.load([dir])).lookup('a.io'), (e: unknown) => e instanceof WharfError && /is a directory/.test(e.message));
  });

  test('a credHelper name with "/" or ".." is refused: it would become a program path', async () => {
    for (const name of ['../../bin/sh', 'x/y', '..', 'a..b', '', ' pass', 'pass\n']) {
      const f = await authFile({ credHelpers: { 'a.io': name } });
      const fake = await fakeHelper();
      await assert.rejects((await AuthStore.load([f], fake.opts)).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /not a valid credential helper name/), name);
      assert.deepEqual(await fake.log(), []);
    }
    const f = await authFile({ credsStore: '../evil' });
    await assert.rejects((await AuthStore.load([f])).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /credsStore/));
    const g = await authFile({ credHelpers: { 'a.io': 7 } });
    await assert.rejects((await AuthStore.load([g])).lookup('a.io'), cleanError([], 'AUTH_FILE_INVALID', /credHelpers/));
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('credential helpers', () => {
  test('credHelpers: get through docker-credential-NAME, the server URL on stdin', async () => {
    const fake = await fakeHelper({ 'reg.example.com': { Username: 'robot', Secret: 'pw' } });
    const f = await authFile({ auths: { 'reg.example.com': { auth: b64('ignored:x') } }, credHelpers: { 'reg.example.com': 'test' } });
    const store = await AuthStore.load([f], fake.opts);
    assert.deepEqual(await store.find('reg.example.com/team/app'), {
      credentials: { username: 'robot', password: 'pw' },
      source: 'docker-credential-test',
    });
    assert.deepEqual(await fake.log(), ['get reg.example.com']);
  });

  test('username <token> means an identity token', async () => {
    const fake = await fakeHelper({ 'reg.example.com': { Username: '<token>', Secret: 'refresh' } });
    const f = await authFile({ credHelpers: { 'reg.example.com': 'test' } });
    assert.deepEqual(await (await AuthStore.load([f], fake.opts)).lookup('reg.example.com'), { identityToken: 'refresh' });
  });

  test('"credentials not found" is not an error; the helper decides for its file, later files are still read', async () => {
    const fake = await fakeHelper({});
    const f = await authFile({ auths: { 'reg.example.com': { auth: b64('not:used') } }, credHelpers: { 'reg.example.com': 'test' } });
    const g = await authFile({ auths: { 'reg.example.com': { auth: b64('later:l') } } });
    assert.equal(await (await AuthStore.load([f], fake.opts)).lookup('reg.example.com'), undefined);
    assert.deepEqual(await (await AuthStore.load([f, g], fake.opts)).lookup('reg.example.com'), { username: 'later', password: 'l' });
  });

  test('a missing helper binary is a clear error naming it', async () => {
    const f = await authFile({ credHelpers: { 'reg.example.com': 'nosuchhelper' } });
    const fake = await fakeHelper();
    await assert.rejects(
      (await AuthStore.load([f], fake.opts)).lookup('reg.example.com'),
      cleanError([], 'CREDENTIAL_HELPER_FAILED', /docker-credential-nosuchhelper is not installed/),
    );
  });

  test('a failing helper is an error quoting its message; an answer that is not JSON is not quoted', async () => {
    const f = await authFile({ credHelpers: { 'reg.example.com': 'test' } });
    const failing = await fakeHelper({ __fail__: true });
    await assert.rejects((await AuthStore.load([f], failing.opts)).lookup('reg.example.com'), cleanError([], 'CREDENTIAL_HELPER_FAILED', /keyring is locked/));
    const garbage = await fakeHelper({ __garbage__: true });
    await assert.rejects((await AuthStore.load([f], garbage.opts)).lookup('reg.example.com'), cleanError(['hunter2'], 'CREDENTIAL_HELPER_FAILED', /not JSON/));
  });

  test('credsStore: asked first; docker.io also under https://index.docker.io/v1/', async () => {
    const fake = await fakeHelper({ 'https://index.docker.io/v1/': { Username: 'hubber', Secret: 'h' } });
    const f = await authFile({ auths: { 'https://index.docker.io/v1/': {}, 'file.io': { auth: b64('f:f') } }, credsStore: 'test' });
    const store = await AuthStore.load([f], fake.opts);
    assert.deepEqual(await store.lookup('docker.io/library/alpine'), { username: 'hubber', password: 'h' });
    // Not in the store: the file's own entries still count.
    assert.deepEqual(await store.lookup('file.io'), { username: 'f', password: 'f' });
    assert.deepEqual(await fake.log(), ['get docker.io', 'get https://index.docker.io/v1/', 'get file.io']);
  });

  test('a credHelpers entry Docker wrote for Docker Hub (index.docker.io) serves docker.io', async () => {
    const fake = await fakeHelper({ 'docker.io': { Username: 'hub', Secret: 'h' } });
    const f = await authFile({ credHelpers: { 'index.docker.io': 'test' } });
    assert.deepEqual(await (await AuthStore.load([f], fake.opts)).lookup('docker.io/library/alpine'), { username: 'hub', password: 'h' });
  });

  test('the helper gets an abort signal', async () => {
    const fake = await fakeHelper({ 'a.io': { Username: 'u', Secret: 'p' } });
    const f = await authFile({ credHelpers: { 'a.io': 'test' } });
    const store = await AuthStore.load([f], fake.opts);
    await assert.rejects(store.lookup('a.io', AbortSignal.abort()), (e: unknown) => e instanceof WharfError && e.code === 'ABORTED');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('setCredentials / removeCredentials / removeAll', () => {
  async function noTempFiles(dir: string): Promise<void> {
    const names = await readdir(dir);
    assert.deepEqual(names.filter((x) => x.includes('.tmp')), []);
  }

  test('a new file: mode 0600, parent directories 0700', async () => {
    const dir = join(root, `w${n++}`, 'containers');
    const file = join(dir, 'auth.json');
    assert.equal(await setCredentials(file, 'reg.example.com', 'me', 'p:w'), file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const text = await readFile(file, 'utf8');
    assert.deepEqual(JSON.parse(text), { auths: { 'reg.example.com': { auth: b64('me:p:w') } } });
    assert.match(text, /\n\t"auths"/); // tab-indented, as the containers tools write it
    assert.deepEqual(await (await AuthStore.load([file])).lookup('reg.example.com/x'), { username: 'me', password: 'p:w' });
    await noTempFiles(dir);
  });

  test('read-modify-write keeps every other field, unknown ones too', async () => {
    const file = await authFile({
      auths: {
        'other.io': { auth: b64('o:o'), email: 'o@o' },
        'reg.example.com': { auth: b64('old:old'), identitytoken: 'stale', email: 'keep@me' },
      },
      credHelpers: { 'ecr.example.com': 'ecr-login' },
      HttpHeaders: { 'User-Agent': 'x' },
      psFormat: 'table',
    });
    await chmod(file, 0o644);
    await setCredentials(file, 'reg.example.com', 'new', 'pw');
    await setCredentials(file, 'reg.example.com/team', 'team', 'tpw');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), {
      auths: {
        'other.io': { auth: b64('o:o'), email: 'o@o' },
        'reg.example.com': { auth: b64('new:pw'), email: 'keep@me' },
        'reg.example.com/team': { auth: b64('team:tpw') },
      },
      credHelpers: { 'ecr.example.com': 'ecr-login' },
      HttpHeaders: { 'User-Agent': 'x' },
      psFormat: 'table',
    });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  test('a file that is not valid JSON is not clobbered', async () => {
    const file = await authFile('{ broken');
    await assert.rejects(setCredentials(file, 'a.io', 'u', 'p'), cleanError([], 'AUTH_FILE_INVALID'));
    assert.equal(await readFile(file, 'utf8'), '{ broken');
  });

  test('usernames with ":" and bad keys are refused without writing', async () => {
    const file = join(root, `w${n++}`, 'auth.json');
    await assert.rejects(setCredentials(file, 'a.io', 'a:b', 'p'), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
    await assert.rejects(setCredentials(file, 'https://a.io', 'u', 'p'), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
    await assert.rejects(stat(file));
  });

  test('the legacy format is not written', async () => {
    const file = await authFile({}, '.dockercfg');
    await assert.rejects(setCredentials(file, 'a.io', 'u', 'p'), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
  });

  test('removeCredentials removes exactly the key; false when there was none', async () => {
    const file = await authFile({ auths: { 'a.io': { auth: b64('u:p') }, 'a.io/ns': { auth: b64('n:n') } }, x: 1 });
    assert.equal(await removeCredentials(file, 'a.io/ns'), true);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { auths: { 'a.io': { auth: b64('u:p') } }, x: 1 });
    assert.equal(await removeCredentials(file, 'a.io/ns'), false);
    assert.equal(await removeCredentials(file, 'b.io'), false);
    assert.equal(await removeCredentials(join(root, 'nope.json'), 'a.io'), false);
    await assert.rejects(stat(join(root, 'nope.json')));
  });

  test('removeAll empties auths and keeps the rest', async () => {
    const file = await authFile({ auths: { 'a.io': { auth: b64('u:p') }, 'b.io': { auth: b64('u:p') } }, other: true });
    await removeAll(file);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { auths: {}, other: true });
    await removeAll(join(root, 'nope.json'));
  });

  test('a host with a credHelper: store and erase go through the helper, not the file', async () => {
    const fake = await fakeHelper();
    const file = await authFile({ credHelpers: { 'reg.example.com': 'test' } });
    assert.equal(await setCredentials(file, 'reg.example.com', 'robot', 'sekret', fake.opts), 'docker-credential-test');
    assert.deepEqual(await fake.db(), { 'reg.example.com': { Username: 'robot', Secret: 'sekret' } });
    assert.ok(!(await readFile(file, 'utf8')).includes(b64('robot:sekret')));
    assert.deepEqual(await (await AuthStore.load([file], fake.opts)).lookup('reg.example.com'), { username: 'robot', password: 'sekret' });
    // Namespaced keys cannot be stored in a helper.
    await assert.rejects(setCredentials(file, 'reg.example.com/team', 'u', 'p', fake.opts), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
    assert.equal(await removeCredentials(file, 'reg.example.com', fake.opts), true);
    assert.deepEqual(await fake.db(), {});
    assert.equal(await removeCredentials(file, 'reg.example.com', fake.opts), false);
  });

  test('credsStore: stored in the helper, an empty marker entry in the file', async () => {
    const fake = await fakeHelper();
    const file = await authFile({ auths: {}, credsStore: 'test' });
    await setCredentials(file, 'reg.example.com', 'robot', 'sekret', fake.opts);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { auths: { 'reg.example.com': {} }, credsStore: 'test' });
    assert.deepEqual(await fake.db(), { 'reg.example.com': { Username: 'robot', Secret: 'sekret' } });
    await removeAll(file, fake.opts);
    assert.deepEqual(await fake.db(), {});
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { auths: {}, credsStore: 'test' });
  });

  test('removeAll erases what the credHelpers hold and keeps the credHelpers setting', async () => {
    const fake = await fakeHelper({ 'reg.example.com': { Username: 'u', Secret: 'p' } });
    const file = await authFile({ auths: { 'a.io': { auth: b64('u:p') } }, credHelpers: { 'reg.example.com': 'test', 'empty.io': 'test' } });
    await removeAll(file, fake.opts);
    assert.deepEqual(await fake.db(), {});
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { auths: {}, credHelpers: { 'reg.example.com': 'test', 'empty.io': 'test' } });
  });

  test('a failing helper store does not put the secret in the error', async () => {
    const fake = await fakeHelper({ __fail__: true });
    const file = await authFile({ credHelpers: { 'reg.example.com': 'test' } });
    await assert.rejects(setCredentials(file, 'reg.example.com', 'robot', 'the-secret-pw', fake.opts), cleanError(['the-secret-pw'], 'CREDENTIAL_HELPER_FAILED'));
  });
});
