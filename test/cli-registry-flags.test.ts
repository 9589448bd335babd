/**
 * The registry side of the CLI without a registry: flags → RegistryAccess (precedence, conflicts, the auth file
 * order from the environment, lazy registries.conf), prompts and --password-stdin, login keys, list-tags JSON,
 * and the sync command's output over a fake library.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { CopyOptions, CopyResult } from '../src/copy/types.js';
import type { Digest } from '../src/digest/index.js';
import { WharfError } from '../src/errors.js';
import type { SyncOptions, SyncResult } from '../src/sync/index.js';
import type { ImageReference } from '../src/transports/types.js';
import { run } from '../src/cli/app.js';
import { parseArgs } from '../src/cli/args.js';
import { listTagsJson } from '../src/cli/commands/list-tags.js';
import { loginKey } from '../src/cli/commands/login.js';
import { syncSummary } from '../src/cli/commands/sync.js';
import { promptLine, readStdinSecret } from '../src/cli/prompt.js';
import { DEFAULT_RETRY_TIMES, RegistrySetup, registryFlags, RETRY_TIMES_FLAG, splitCreds, twoSidedRegistryFlags } from '../src/cli/registry-access.js';
import type { CliIO, CliLibrary, InStream } from '../src/cli/types.js';
import { Sink } from './helpers/sink.js';

const DM = `sha256:${'d'.repeat(64)}` as Digest;


/** A terminal's stdin: raw mode is recorded, keys are pushed by the test. */
class FakeTty extends EventEmitter implements InStream {
  isTTY = true;
  raw: boolean[] = [];
  setRawMode(mode: boolean): this {
    this.raw.push(mode);
    return this;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  type(keys: string): void {
    this.emit('data', Buffer.from(keys, 'utf8'));
  }
}

function io(env: Record<string, string | undefined> = {}, extra: Partial<CliIO> = {}): CliIO & { stdout: Sink; stderr: Sink } {
  return { stdout: new Sink(), stderr: new Sink(), env, cwd: '/work', ...extra } as CliIO & { stdout: Sink; stderr: Sink };
}

const signal = new AbortController().signal;

describe('registry flags → RegistryAccess', () => {
  let dir: string;
  let emptyConf: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-cli-flags-'));
    emptyConf = join(dir, 'registries.conf');
    await writeFile(emptyConf, '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const one = [...registryFlags(''), RETRY_TIMES_FLAG];
  const two = twoSidedRegistryFlags();

  test('the flag names are skopeo\'s', () => {
    assert.deepEqual(
      one.map((f) => f.name),
      ['authfile', 'creds', 'username', 'password', 'no-creds', 'registry-token', 'tls-verify', 'cert-dir', 'retry-times'],
    );
    for (const side of ['src-', 'dest-']) {
      for (const n of ['authfile', 'creds', 'username', 'password', 'no-creds', 'registry-token', 'tls-verify', 'cert-dir']) {
        assert.ok(two.some((f) => f.name === `${side}${n}`), `--${side}${n}`);
      }
    }
    assert.ok(two.some((f) => f.name === 'tls-verify') && two.some((f) => f.name === 'authfile') && !two.some((f) => f.name === 'creds'));
  });

  test('--creds, --registry-token, --tls-verify, --retry-times', async () => {
    const setup = new RegistrySetup(io({ CONTAINERS_REGISTRIES_CONF: emptyConf }), signal);
    const a = await setup.access(parseArgs(['--creds', 'alice:pa:ss', '--tls-verify=false', '--retry-times', '7'], one), '');
    assert.deepEqual(await a.credentials!('h/r'), { username: 'alice', password: 'pa:ss' }, 'only the first colon splits');
    assert.equal(a.tlsVerify, false);
    assert.equal(a.retryTimes, 7);
    const b = await setup.access(parseArgs(['--registry-token', 'tok'], one), '');
    assert.equal(b.registryToken, 'tok');
    assert.equal(b.tlsVerify, undefined, 'unset: registries.conf decides');
    assert.equal(b.retryTimes, DEFAULT_RETRY_TIMES);
    const c = await setup.access(parseArgs(['--username', 'bob', '--password', ''], one), '');
    assert.deepEqual(await c.credentials!('h/r'), { username: 'bob', password: '' });
    const anon = await setup.access(parseArgs(['--no-creds'], one), '');
    assert.equal(await anon.credentials!('h/r'), undefined);
  });

  test('conflicts and missing passwords are usage errors that never quote the value', async () => {
    const setup = new RegistrySetup(io({ CONTAINERS_REGISTRIES_CONF: emptyConf }), signal);
    const usage = async (argv: string[], re: RegExp) => {
      await assert.rejects(setup.access(parseArgs(argv, one), ''), (err: unknown) => {
        assert.ok(err instanceof WharfError && err.code === 'USAGE', String(err));
        assert.match(err.message, re);
        assert.ok(!`${err.message} ${err.hint}`.includes('s3cr3t'), 'no secret in the message');
        return true;
      });
    };
    await usage(['--creds', 'a:s3cr3t', '--no-creds'], /--no-creds cannot be combined/);
    await usage(['--registry-token', 's3cr3t', '--no-creds'], /--no-creds cannot be combined with --registry-token/);
    await usage(['--creds', 'a:s3cr3t', '--username', 'b'], /--creds cannot be combined/);
    await usage(['--password', 's3cr3t'], /--password needs --username/);
    await usage(['--creds', ':s3cr3t'], /the username is empty/);
    await usage(['--creds', 'alice'], /standard input is not a terminal/);
    await usage(['--retry-times', '-1'], /--retry-times/);
    assert.throws(() => splitCreds(':x', '--creds'), /username is empty/);
  });

  test('--creds USER asks for the password on a terminal, without echo', async () => {
    const tty = new FakeTty();
    const out = io({ CONTAINERS_REGISTRIES_CONF: emptyConf }, { stdin: tty });
    const setup = new RegistrySetup(out, signal);
    const pending = setup.access(parseArgs(['--src-creds', 'alice'], two), 'src-');
    while (!out.stderr.text.includes('Password')) await new Promise((r) => setTimeout(r, 5));
    tty.type('hunter');
    tty.type('x\u007f2\r');
    const access = await pending;
    assert.deepEqual(await access.credentials!('h/r'), { username: 'alice', password: 'hunter2' });
    assert.equal(out.stderr.text, 'Password for alice (the source registry): \n');
    assert.deepEqual(tty.raw, [true, false], 'raw mode on, then restored');
  });

  test('copy sides: a side\'s flag wins over the plain one, and the plain one covers both', async () => {
    const setup = new RegistrySetup(io({ CONTAINERS_REGISTRIES_CONF: emptyConf }), signal);
    const args = parseArgs(['--tls-verify=false', '--dest-tls-verify', '--src-creds', 'a:b', '--dest-registry-token', 't'], two);
    const src = await setup.access(args, 'src-');
    const dest = await setup.access(args, 'dest-');
    assert.equal(src.tlsVerify, false);
    assert.equal(dest.tlsVerify, true);
    assert.deepEqual(await src.credentials!('x/y'), { username: 'a', password: 'b' });
    assert.equal(src.registryToken, undefined);
    assert.equal(dest.registryToken, 't');
  });

  test('auth files: --authfile, then $REGISTRY_AUTH_FILE, then the containers order (relative paths from the cwd)', () => {
    const env = { HOME: '/home/u', XDG_RUNTIME_DIR: '/run/user/1', DOCKER_CONFIG: '/dc' };
    const setup = new RegistrySetup(io(env), signal);
    assert.deepEqual(setup.authFiles(undefined), ['/run/user/1/containers/auth.json', '/home/u/.config/containers/auth.json', '/dc/config.json', '/home/u/.dockercfg']);
    assert.deepEqual(setup.authFiles('ci/auth.json'), ['/work/ci/auth.json']);
    const withEnv = new RegistrySetup(io({ ...env, REGISTRY_AUTH_FILE: 'rel.json' }), signal);
    assert.deepEqual(withEnv.authFiles(undefined), ['/work/rel.json']);
    const noXdg = new RegistrySetup(io({ HOME: '/home/u' }, { uid: 1000 }), signal);
    assert.equal(noXdg.authFiles(undefined)[0], '/run/containers/1000/auth.json');
  });

  test('credentials come from the auth file, most specific key first', async () => {
    const file = join(dir, 'auth.json');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await writeFile(file, JSON.stringify({ auths: { 'reg.example': { auth: b64('all:1') }, 'reg.example/team': { auth: b64('team:2') } } }));
    const setup = new RegistrySetup(io({ CONTAINERS_REGISTRIES_CONF: emptyConf, REGISTRY_AUTH_FILE: file }), signal);
    const access = await setup.access(parseArgs([], one), '');
    assert.deepEqual(await access.credentials!('reg.example/team/app'), { username: 'team', password: '2' });
    assert.deepEqual(await access.credentials!('reg.example/other/app'), { username: 'all', password: '1' });
    assert.equal(await access.credentials!('elsewhere.example/x'), undefined);
  });

  test('registries.conf is read lazily, once, and only for registry references', async () => {
    const missing = join(dir, 'no-such.conf');
    let copies = 0;
    const lib: CliLibrary = {
      VERSION: '9.9.9',
      parseReference: (s) => ({ toString: () => s, transport: { name: s.split(':')[0]! } }) as unknown as ImageReference,
      inspect: async () => {
        throw new Error('unused');
      },
      copy: async (_s, _d, opts?: CopyOptions): Promise<CopyResult> => {
        copies++;
        assert.equal(opts?.sourceRegistry, undefined);
        return { digest: DM, mediaType: 'x', bytesWritten: 0, blobsCopied: 0, blobsSkipped: 0 };
      },
      manifestDigest: () => DM,
    };
    const env = { CONTAINERS_REGISTRIES_CONF: missing };
    assert.equal(await run(['copy', '-q', 'oci:a:1', 'oci:b:1'], io(env), lib), 0, 'no registry: the broken setting is never read');
    assert.equal(copies, 1);
    const out = io(env);
    assert.equal(await run(['copy', '-q', 'docker://r.example/a:1', 'oci:b:1'], out, lib), 1);
    assert.match(out.stderr.text, /registries configuration .*no-such\.conf does not exist/);
    assert.equal(copies, 1);
  });
});

describe('prompts and stdin', () => {
  test('--password-stdin: the whole input, one trailing newline dropped', async () => {
    assert.equal(await readStdinSecret(Readable.from([Buffer.from('p a:ss\n')]) as unknown as InStream, 'the password'), 'p a:ss');
    assert.equal(await readStdinSecret(Readable.from([Buffer.from('x\r\n')]) as unknown as InStream, 'the password'), 'x');
    assert.equal(await readStdinSecret(Readable.from([Buffer.from('x\n\n')]) as unknown as InStream, 'the password'), 'x\n');
    await assert.rejects(readStdinSecret(Readable.from([Buffer.alloc(100, 'a')]) as unknown as InStream, 'the password', 10), /longer than 10 bytes/);
    await assert.rejects(readStdinSecret(undefined, 'the password'), /no standard input/);
  });

  test('a username prompt echoes; Ctrl-C aborts and restores the terminal; escape sequences are ignored', async () => {
    const tty = new FakeTty();
    const err = new Sink();
    const p = promptLine(tty, err, 'Username: ', { echo: true });
    tty.type('al\u001b[Dice\r');
    assert.equal(await p, 'alice');
    assert.equal(err.text, 'Username: alice\n');
    const tty2 = new FakeTty();
    const p2 = promptLine(tty2, new Sink(), 'Password: ', { echo: false });
    tty2.type('abc\u0003');
    await assert.rejects(p2, (e: unknown) => e instanceof WharfError && e.code === 'ABORTED');
    assert.deepEqual(tty2.raw, [true, false]);
    await assert.rejects(promptLine({ ...tty, isTTY: false } as unknown as InStream, new Sink(), 'Password: ', { echo: false }), /not a terminal/);
  });

  test('login without a terminal or --password-stdin is a usage error, and -p warns', async () => {
    const lib = { VERSION: '9', parseReference: () => ({}) as ImageReference } as unknown as CliLibrary;
    const out = io({ XDG_RUNTIME_DIR: '/nonexistent' });
    assert.equal(await run(['login', 'reg.example'], out, lib), 2);
    assert.match(out.stderr.text, /no username given/);
    const out2 = io({ XDG_RUNTIME_DIR: '/nonexistent' });
    assert.equal(await run(['login', '-u', 'a', 'reg.example'], out2, lib), 2);
    assert.match(out2.stderr.text, /no password given[\s\S]*--password-stdin/);
    const out3 = io({ XDG_RUNTIME_DIR: '/nonexistent' });
    assert.equal(await run(['login', '--password-stdin', 'reg.example'], out3, lib), 2);
    assert.match(out3.stderr.text, /--password-stdin needs --username/);
    const out4 = io({ XDG_RUNTIME_DIR: '/nonexistent' });
    assert.equal(await run(['login', '-p', 'x', '--password-stdin', '-u', 'a', 'reg.example'], out4, lib), 2);
  });
});

describe('registry command helpers', () => {
  test('login keys: schemes and trailing slashes dropped, Docker Hub spelled docker.io', () => {
    assert.deepEqual(loginKey('localhost:5000'), { key: 'localhost:5000', host: 'localhost:5000' });
    assert.deepEqual(loginKey('https://quay.io/'), { key: 'quay.io', host: 'quay.io' });
    assert.deepEqual(loginKey('docker://quay.io/team'), { key: 'quay.io/team', host: 'quay.io' });
    assert.deepEqual(loginKey('https://index.docker.io/v1/'), { key: 'docker.io', host: 'docker.io' });
    assert.deepEqual(loginKey('registry-1.docker.io/library'), { key: 'docker.io/library', host: 'docker.io' });
  });

  test('list-tags JSON is Go\'s MarshalIndent, like skopeo', () => {
    assert.equal(listTagsJson('r.example/a', ['1', 'latest']), '{\n    "Repository": "r.example/a",\n    "Tags": [\n        "1",\n        "latest"\n    ]\n}\n');
    assert.equal(listTagsJson('r.example/a', []), '{\n    "Repository": "r.example/a",\n    "Tags": []\n}\n');
  });

  test('sync summary', () => {
    const base = { copied: 12, failed: 3, planned: 15, bytes: 1536, dryRun: false, repositoriesFailed: 0 };
    assert.equal(syncSummary(base, 3200), 'Synced 12 images (3 failed), 1.5 KiB written in 3.2 s');
    assert.equal(syncSummary({ ...base, copied: 1, failed: 0, planned: 4 }, 100), 'Synced 1 image, 3 not attempted, 1.5 KiB written in 0.1 s');
    assert.equal(syncSummary({ ...base, dryRun: true, repositoriesFailed: 1 }, 0), 'Dry run: 15 images would be synced; 1 repository could not be listed');
  });
});

describe('wharf sync over a fake library', () => {
  const item = (n: number) => ({ source: `docker://r.example/app:${n}`, destination: `dir:/out/app:${n}` });
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-cli-sync-'));
    env = { CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf') };
    await writeFile(env.CONTAINERS_REGISTRIES_CONF!, '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function syncLib(impl: (o: SyncOptions) => Promise<SyncResult>): { lib: CliLibrary; seen: SyncOptions[] } {
    const seen: SyncOptions[] = [];
    const lib = {
      VERSION: '9',
      sync: async (o: SyncOptions) => {
        seen.push(o);
        return impl(o);
      },
    } as unknown as CliLibrary;
    return { lib, seen };
  }

  test('options from flags, a line per image on stderr, the summary, --json on stdout, exit 1 on failures', async () => {
    const failure = new WharfError('MANIFEST_UNKNOWN', 'manifest 2 unknown');
    const { lib, seen } = syncLib(async (o) => {
      const items = [item(1), item(2)];
      o.onEvent?.({ type: 'plan', images: 2, items, dryRun: false });
      o.onEvent?.({ type: 'image-start', item: items[0]!, index: 0, total: 2 });
      o.onEvent?.({ type: 'blob-start', digest: DM, size: 10, kind: 'layer', item: items[0]! });
      o.onEvent?.({ type: 'image-done', item: items[0]!, index: 0, total: 2, digest: DM, bytesWritten: 2048, blobsCopied: 2, blobsSkipped: 1 });
      o.onEvent?.({ type: 'image-start', item: items[1]!, index: 1, total: 2 });
      o.onEvent?.({ type: 'image-failed', item: items[1]!, index: 1, total: 2, error: failure });
      return { planned: items, copied: [{ ...items[0]!, digest: DM, bytesWritten: 2048, blobsCopied: 2, blobsSkipped: 1 }], failed: [{ item: items[1]!, error: failure }], bytesWritten: 2048 };
    });
    const out = io(env);
    const code = await run(
      ['sync', '--json', '--keep-going', '--scoped', '--parallel', '2', '-f', 'oci', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', 'r.example/app', 'out'],
      out,
      lib,
    );
    assert.equal(code, 1);
    const o = seen[0]!;
    assert.equal(o.source, 'r.example/app');
    assert.equal(o.destination, '/work/out', 'a local destination is made absolute');
    assert.equal(o.keepGoing, true);
    assert.equal(o.scoped, true);
    assert.equal(o.parallel, 2);
    assert.equal(o.copy?.format, 'oci');
    assert.equal(o.sourceRegistry?.tlsVerify, false);
    assert.equal(o.destinationRegistry, undefined, 'a dir destination needs no registry');
    const lines = out.stderr.text.trim().split('\n');
    assert.match(lines[0]!, /^Copying \[1\/2\] docker:\/\/r\.example\/app:1 to dir:\/out\/app:1$/);
    assert.match(lines[1]!, /^Copied \[1\/2\] dir:\/out\/app:1 sha256:d+ \(2\.0 KiB written, 1 blob already there\)$/);
    assert.match(lines[3]!, /^Failed \[2\/2\] docker:\/\/r\.example\/app:2: manifest 2 unknown$/);
    assert.match(lines.at(-1)!, /^Synced 1 image \(1 failed\), 2\.0 KiB written in/);
    const json = JSON.parse(out.stdout.text);
    assert.deepEqual(json.failed, [{ ...item(2), error: { code: 'MANIFEST_UNKNOWN', message: 'manifest 2 unknown' } }]);
    assert.equal(json.copied.length, 1);
  });

  test('without --keep-going the first error is the exit code; --src and --dest are required', async () => {
    const { lib } = syncLib(async (o) => {
      o.onEvent?.({ type: 'plan', images: 1, items: [item(1)], dryRun: false });
      throw new WharfError('AUTH_FAILED', 'refused');
    });
    const out = io(env);
    assert.equal(await run(['sync', '--src', 'dir', '--dest', 'docker', 'in', 'r.example/ns'], out, lib), 5);
    assert.match(out.stderr.text, /Synced 0 images, 1 not attempted[\s\S]*wharf: error: refused/);
    const out2 = io();
    assert.equal(await run(['sync', '--src', 'dir', 'in', 'out'], out2, lib), 2);
    assert.match(out2.stderr.text, /needs --dest/);
    const out3 = io();
    assert.equal(await run(['sync', '--src', 'tarball', '--dest', 'dir', 'in', 'out'], out3, lib), 2);
  });
});
