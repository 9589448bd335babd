/**
 * `wharf serve` and `wharf registry gc` as a user runs them: a child process that says where it listens,
 * answers /healthz and /metrics, warns when it is open to the network without auth, and stops cleanly on
 * SIGTERM; bad flags and configuration files are one-line errors with a hint.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { tempDir } from './helpers/peers.js';
import { WHARF_BIN } from './helpers/bin.js';

const CLI = WHARF_BIN;

interface Served {
  url: string;
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function serve(t: TestContext, args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(() => {
    child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line: ${lines.join('\n')}`)), 10_000);
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      const m = /"url":"([^"]+)"/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`exited with ${code}: ${lines.join('\n')}`)));
  });
  return {
    url,
    lines,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}

test('wharf serve: listens, answers /healthz and /metrics, logs requests as JSON lines, stops on SIGTERM with 0', async (t) => {
  const dir = await tempDir(t);
  const srv = await serve(t, ['--listen', '127.0.0.1:0', '--storage', join(dir, 'store')]);
  const health = await fetch(`${srv.url}/healthz`);
  assert.equal(health.status, 200);
  const blob = randomBytes(100);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  assert.equal((await fetch(`${srv.url}/v2/x/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob })).status, 201);
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(metrics, /wharf_http_requests_total\{method="POST",route="uploads",status="201"\} 1/);
  assert.match(metrics, /# TYPE wharf_http_request_duration_seconds histogram/);
  assert.equal(await srv.stop(), 0);
  const entries = srv.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const post = entries.find((e) => e.method === 'POST');
  assert.ok(post, srv.lines.join('\n'));
  assert.equal(post.status, 201);
  assert.equal(post.repository, 'x');
  assert.ok(entries.some((e) => e.msg === 'stopped'));
  assert.ok(!srv.lines.some((l) => /WARNING/.test(l)), 'no warning on loopback');
});

test('wharf serve on every interface without auth says loudly that anyone may push and delete', async (t) => {
  const dir = await tempDir(t);
  const srv = await serve(t, ['--listen', '0.0.0.0:0', '--storage', join(dir, 'store'), '-q']);
  assert.ok(srv.lines.some((l) => /WARNING: no auth is configured/.test(l)), srv.lines.join('\n'));
  await srv.stop();
});

test('wharf serve: bad flags and configuration files are one-line errors with a hint and the right exit code', async (t) => {
  const dir = await tempDir(t);
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  const listen = run('serve', '--listen', 'nonsense:port');
  assert.equal(listen.status, 2);
  assert.match(listen.stderr, /^wharf: error: --listen: "nonsense:port" is not HOST:PORT\n  hint: /);
  const cases: [string, RegExp][] = [
    ['acess: []\n', /unknown key "acess"/],
    ['access:\n  - repositories: ["**"]\n    users: [a]\n    actions: [pull]\n', /access rules need auth/],
    ['auth:\n  htpasswd: missing-file\n', /htpasswd/],
    ['gc: { interval: soon }\n', /"soon" is not a duration/],
    ['listen: [1, 2]\n', /listen: must be a non-empty string/],
    ['key: : :\n  - [\n', /not valid YAML/],
  ];
  for (const [text, message] of cases) {
    const file = join(dir, 'config.yaml');
    await fsp.writeFile(file, text);
    const r = run('serve', '--config', file, '--storage', join(dir, 'store'), '--listen', '127.0.0.1:0');
    assert.equal(r.status, 1, `${text}: ${r.stderr}`);
    assert.match(r.stderr, message, text);
    assert.match(r.stderr, /\n {2}hint: /, text);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const port = await serve(t, ['--listen', '127.0.0.1:0', '--storage', join(dir, 'store2')]);
  const taken = run('serve', '--listen', new URL(port.url).host, '--storage', join(dir, 'store3'));
  assert.equal(taken.status, 1);
  assert.match(taken.stderr, /already in use/);
  await port.stop();
});

test('wharf registry gc --json reports what it removed; --dry-run removes nothing', async (t) => {
  const dir = await tempDir(t);
  const storage = join(dir, 'store');
  const srv = await serve(t, ['--listen', '127.0.0.1:0', '--storage', storage, '-q']);
  const orphan = randomBytes(321);
  const digest = `sha256:${createHash('sha256').update(orphan).digest('hex')}`;
  assert.equal((await fetch(`${srv.url}/v2/junk/blobs/uploads/?digest=${digest}`, { method: 'POST', body: orphan })).status, 201);
  const gc = (...args: string[]) => spawnSync(process.execPath, [CLI, 'registry', 'gc', '--storage', storage, '--grace', '0s', ...args], { encoding: 'utf8' });
  const dry = gc('--dry-run');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`would remove blob junk@${digest} \\(321 B\\)`));
  assert.equal((await fetch(`${srv.url}/v2/junk/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  const real = gc('--json');
  assert.equal(real.status, 0, real.stderr);
  const report = JSON.parse(real.stdout) as { blobs: { digest: string }[]; bytesFreed: number; dryRun: boolean };
  assert.deepEqual(report.blobs.map((b) => b.digest), [digest]);
  assert.equal(report.bytesFreed, 321);
  assert.equal(report.dryRun, false);
  assert.equal((await fetch(`${srv.url}/v2/junk/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'the running server sees the removal');
  await srv.stop();
  const notStorage = spawnSync(process.execPath, [CLI, 'registry', 'gc', '--storage', dir], { encoding: 'utf8' });
  assert.equal(notStorage.status, 3);
  assert.match(notStorage.stderr, /is not a wharf registry storage/);
});

test('wharf serve with gc.interval collects garbage online and counts it in /metrics', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'registry.yaml');
  await fsp.writeFile(config, 'gc:\n  interval: 1s\n  grace: 0s\n');
  const srv = await serve(t, ['--listen', '127.0.0.1:0', '--storage', join(dir, 'store'), '--config', config]);
  const orphan = randomBytes(999);
  const digest = `sha256:${createHash('sha256').update(orphan).digest('hex')}`;
  assert.equal((await fetch(`${srv.url}/v2/online/blobs/uploads/?digest=${digest}`, { method: 'POST', body: orphan })).status, 201);
  let metrics = '';
  for (let i = 0; i < 50 && !/wharf_gc_deleted_bytes_total 999\b/.test(metrics); i++) {
    await new Promise((r) => setTimeout(r, 200));
    metrics = await (await fetch(`${srv.url}/metrics`)).text();
  }
  assert.match(metrics, /wharf_gc_deleted_bytes_total 999\b/);
  assert.equal((await fetch(`${srv.url}/v2/online/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  assert.ok(srv.lines.some((l) => /garbage collection: freed 999 B/.test(l)), srv.lines.join('\n'));
  await srv.stop();
});
