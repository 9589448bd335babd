/**
 * `wharf serve` under attack: hostile repository names, digests and upload ids (nothing may be created or
 * reached outside the storage, nor another repository inside it), request bodies past their caps, every route
 * under auth (no credentials, wrong passwords, forged tokens, too little access, the cross-repository mount
 * that would leak a blob), password checks that must not reveal which users exist, and secrets that must never
 * reach the access log or an error body.
 *
 * Requests whose path fetch would normalise (`..`, `%2e%2e`, `\`) are written on a raw socket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { AccessRule } from '../src/server/auth/access.js';
import { signToken, type TokenClaims } from '../src/server/auth/token.js';
import { requirePeer } from './helpers/peers.js';
import {
  OCI_MANIFEST,
  bytesOf,
  errorCode,
  makeImage,
  openSocket,
  pullVerify,
  pushBlob,
  pushImage,
  putManifest,
  rawHttp,
  readResponse,
  scratchDir,
  serveInProcess,
  sha256,
  spawnServe,
  snapshotTree,
  treeDiff,
  type InProcessRegistry,
  type RawResponse,
  type TestImage,
} from './helpers/serve.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const basic = (user: string, password: string): Record<string, string> => ({ Authorization: `Basic ${b64(`${user}:${password}`)}` });
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
const MiB = 1 << 20;

async function bodyCode(res: Response): Promise<string | undefined> {
  return errorCode(Buffer.from(await res.arrayBuffer()));
}

// ---------------------------------------------------------------------------------------------------------
// Names, digests, upload ids

/** An open registry in `<base>/storage` with `b:x` pushed, and a file beside the storage that must stay alone. */
async function namesRegistry(t: TestContext) {
  const base = await scratchDir(t, 'wharf-sec-names-');
  await fsp.mkdir(join(base, 'etc'), { recursive: true });
  await fsp.writeFile(join(base, 'etc', 'passwd'), 'root:x:0:0\n');
  const reg = await serveInProcess(t, { storage: join(base, 'storage') });
  const image = makeImage('b');
  await pushImage(reg.url, 'b', 'x', image);
  return { base, reg, image };
}

/**
 * The requests an attacker would send with `name` where the repository goes: read, write and delete. `b` is
 * a real repository, so a name that the server quietly normalises to `b` shows up as a 200/201/202.
 */
function hostileRequests(name: string, image: TestImage) {
  const blob = Buffer.from('a blob pushed through a hostile name');
  const manifestHeaders = { 'Content-Type': OCI_MANIFEST };
  return [
    { method: 'GET', path: `/v2/${name}/manifests/x` },
    { method: 'HEAD', path: `/v2/${name}/manifests/x` },
    { method: 'GET', path: `/v2/${name}/tags/list` },
    { method: 'GET', path: `/v2/${name}/blobs/${image.blobs[1]}` },
    { method: 'PUT', path: `/v2/${name}/manifests/pwned`, headers: manifestHeaders, body: image.manifest },
    { method: 'POST', path: `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, headers: { 'Content-Type': 'application/octet-stream' }, body: blob },
    { method: 'POST', path: `/v2/${name}/blobs/uploads/` },
    { method: 'DELETE', path: `/v2/${name}/blobs/${image.blobs[1]}` },
    { method: 'DELETE', path: `/v2/${name}/manifests/${image.digest}` },
  ];
}

/** Why the answer is not 400 NAME_INVALID or a 404 in the spec's error JSON (a path that is no route), if it is not. */
function refusalProblem(res: RawResponse, what: string): string | undefined {
  const code = errorCode(res.body);
  const head = what.startsWith('HEAD');
  const shown = `${what} → ${res.status} ${head ? '' : (code ?? res.body.toString('latin1').replace(/[^\x20-\x7e]/g, '.').slice(0, 80))}`;
  if (res.status === 400) return head || code === 'NAME_INVALID' ? undefined : `${shown} (400, but not NAME_INVALID)`;
  if (res.status === 404) return head || code !== undefined ? undefined : `${shown} (a 404 without the spec's error JSON)`;
  return `${shown} (expected 400 NAME_INVALID or 404)`;
}

const HOSTILE_NAMES: [string, string][] = [
  ['path traversal: /v2/../../etc/manifests/x', '../../etc'],
  ['path traversal: a lone ..', '..'],
  ['path traversal: a lone .', '.'],
  ['path traversal: ./b', './b'],
  ['path traversal: a/../b reaches no other repository', 'a/../b'],
  ['encoded traversal: %2e%2e', '%2e%2e'],
  ['encoded traversal: a/%2E%2e/b reaches no other repository', 'a/%2E%2e/b'],
  ['encoded traversal: a/.%2e/b reaches no other repository', 'a/.%2e/b'],
  ['encoded slash: a%2F..%2Fb', 'a%2F..%2Fb'],
  ['encoded slash: %2F..%2F..%2Fetc', '%2F..%2F..%2Fetc'],
  ['backslash traversal: a\\..\\b reaches no other repository', 'a\\..\\b'],
  ['uppercase: Team/App', 'Team/App'],
  ['reserved component: a/blobs', 'a/blobs'],
  ['reserved component: blobs', 'blobs'],
  ['reserved component: b/index.json', 'b/index.json'],
  ['reserved component: b/oci-layout', 'b/oci-layout'],
  ['the server folder: .wharf', '.wharf'],
  ['the server folder: .wharf/blobs/sha256', '.wharf/blobs/sha256'],
  ['the server folder: a/.wharf', 'a/.wharf'],
  ['a hidden component: b/.hidden', 'b/.hidden'],
  ['300-character name', 'a'.repeat(300)],
  ['300-character name of short components', 'abcdefghi/'.repeat(30).slice(0, -1)],
  ['a component longer than a file name may be', 'a'.repeat(256)],
  ['encoded NUL: a%00b', 'a%00b'],
  ['empty component: a//b', 'a//b'],
  ['trailing slash: b/', 'b/'],
];

describe('hostile repository names', () => {
  for (const [label, name] of HOSTILE_NAMES) {
    test(`${label} → 400 NAME_INVALID or 404, nothing created or changed inside or outside the storage`, async (t) => {
      const { base, reg, image } = await namesRegistry(t);
      const before = await snapshotTree(base);
      const problems: string[] = [];
      for (const r of hostileRequests(name, image)) {
        const res = await rawHttp(reg.port, r.method, r.path, r.headers, r.body);
        const problem = refusalProblem(res, `${r.method} ${r.path}`);
        if (problem) problems.push(problem);
      }
      // All of them at once: a name normalised to `b` shows as a 200 GET, 201 PUT and 202 DELETE acting on b.
      assert.deepEqual(problems, [], `requests through "${name}" were not refused`);
      assert.deepEqual(treeDiff(before, await snapshotTree(base)), [], 'the storage (or what is beside it) changed');
      await pullVerify(reg.url, 'b', 'x');
    });
  }

  test('a raw NUL byte in the path is refused (400) before it reaches the storage', async (t) => {
    const { base, reg, image } = await namesRegistry(t);
    const before = await snapshotTree(base);
    for (const r of hostileRequests('a\u0000b', image)) {
      const res = await rawHttp(reg.port, r.method, r.path, r.headers, r.body).catch((err: Error) => err);
      // Node's HTTP parser refuses the request line itself: a bare 400 (or a closed connection), never a 2xx.
      if (res instanceof Error) continue;
      assert.equal(res.status, 400, `${r.method}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    }
    assert.deepEqual(treeDiff(before, await snapshotTree(base)), []);
  });

  test('lock hijack: a repository named victim/index.json.lock is NAME_INVALID and cannot block pushes to victim', async (t) => {
    const { reg } = await namesRegistry(t);
    const lockDir = join(reg.storage, 'victim', 'index.json.lock');
    try {
      const blob = Buffer.from('a blob in a repository named after the lock of another');
      const res = await rawHttp(reg.port, 'POST', `/v2/victim/index.json.lock/blobs/uploads/?digest=${sha256(blob)}`, { 'Content-Type': 'application/octet-stream' }, blob);
      // The name is grammatical, but `index.json.lock` is the lock directory the store takes on victim's folder:
      // a repository there is a lock nobody releases.
      const hijacked = res.status === 201;
      // Whatever the answer, a push to victim must still go through (it would wait 30 s for the lock, then 500).
      const image = makeImage('victim');
      const pushed = await Promise.race([
        pushImage(reg.url, 'victim', 'v1', image).then(
          () => 'pushed',
          (err: Error) => `failed: ${err.message}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 3 s (the lock is held by the directory of repository victim/index.json.lock)'), 3000)),
      ]);
      assert.equal(res.status, 400, `POST to victim/index.json.lock: ${res.status} ${res.body.toString().slice(0, 200)}`);
      assert.equal(errorCode(res.body), 'NAME_INVALID');
      assert.ok(!hijacked);
      assert.equal(pushed, 'pushed');
    } finally {
      // Let a push still queued behind the hijacked lock finish, so the server can close.
      await fsp.rm(lockDir, { recursive: true, force: true });
    }
  });

  test('encoded traversal in a digest, tag or upload id (the last segment, decoded once) is DIGEST_INVALID / BLOB_UPLOAD_UNKNOWN / refused', async (t) => {
    const { base, reg } = await namesRegistry(t);
    const before = await snapshotTree(base);
    const digestCases = [
      `/v2/b/blobs/..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
      `/v2/b/blobs/sha256:..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
      `/v2/b/blobs/sha256%3A..%2F..%2Findex.json`,
      `/v2/b/blobs/sha256:abc`,
      `/v2/b/blobs/sha256:${'a'.repeat(63)}`,
      `/v2/b/blobs/sha256:${'a'.repeat(65)}`,
      `/v2/b/blobs/sha256:${'A'.repeat(64)}`,
      `/v2/b/blobs/sha512:${'a'.repeat(64)}`,
      `/v2/b/blobs/sha256:${'a'.repeat(62)}%00a`,
      `/v2/b/manifests/sha256:..%2F..%2F..%2Fetc%2Fpasswd`,
      `/v2/b/referrers/sha256:..%2F..%2Fx`,
    ];
    for (const path of digestCases) {
      for (const method of path.includes('/referrers/') ? ['GET'] : ['GET', 'DELETE']) {
        const res = await rawHttp(reg.port, method, path);
        assert.equal(res.status, 400, `${method} ${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
        assert.equal(errorCode(res.body), 'DIGEST_INVALID', `${method} ${path}`);
      }
    }
    // A tag with encoded slashes: not a tag; a client error or unknown, never a file read.
    for (const path of ['/v2/b/manifests/..%2F..%2F..%2Fetc%2Fpasswd', '/v2/b/manifests/..%2Findex.json', '/v2/b/manifests/%2e%2e']) {
      const res = await rawHttp(reg.port, 'GET', path);
      assert.ok([400, 404].includes(res.status) && errorCode(res.body) !== undefined, `GET ${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
      assert.ok(!res.body.toString().includes('root:x'), 'the file beside the storage was read');
    }
    // Digests in query parameters: the final PUT's digest and a mount's.
    const session = await fetch(`${reg.url}/v2/b/blobs/uploads/`, { method: 'POST' });
    assert.equal(session.status, 202);
    const location = session.headers.get('location')!;
    for (const digest of ['sha256:..%2F..%2F..%2Fetc%2Fpasswd', 'sha256:abc', '..%2F..%2Fx']) {
      const put = await rawHttp(reg.port, 'PUT', `${location}?digest=${digest}`, { 'Content-Type': 'application/octet-stream' }, 'x');
      assert.equal(put.status, 400, `PUT ?digest=${digest}: ${put.status} ${put.body.toString()}`);
      assert.equal(errorCode(put.body), 'DIGEST_INVALID');
      const mount = await rawHttp(reg.port, 'POST', `/v2/b/blobs/uploads/?mount=${digest}&from=b`);
      assert.equal(mount.status, 400, `POST ?mount=${digest}: ${mount.status}`);
      assert.equal(errorCode(mount.body), 'DIGEST_INVALID');
    }
    await fetch(new URL(location, reg.url), { method: 'DELETE' });
    assert.deepEqual(treeDiff(before, await snapshotTree(base)), []);
  });

  test('upload ids that are not UUIDs, or that belong to another repository, are 404 BLOB_UPLOAD_UNKNOWN', async (t) => {
    const { reg } = await namesRegistry(t);
    const start = await fetch(`${reg.url}/v2/a/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const id = start.headers.get('docker-upload-uuid')!;
    const chunk = Buffer.from('bytes of the upload of repository a');
    const patched = await fetch(`${reg.url}/v2/a/blobs/uploads/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${chunk.length - 1}` },
      body: chunk,
    });
    assert.equal(patched.status, 202);
    // A bare `..` is a dot segment: refused as such, never resolved into another path.
    const dots = await rawHttp(reg.port, 'GET', '/v2/a/blobs/uploads/..');
    assert.equal(dots.status, 400);
    const ids = [
      'x',
      '...',
      '..%2F..%2F..%2Fetc',
      '..%2Fstate.json',
      id.toUpperCase(),
      `${id}x`,
      `${id.slice(0, -1)}`,
      `${id}%00`,
      `${id}%2Fdata`,
      '00000000-0000-0000-0000-000000000000',
    ];
    for (const bad of ids) {
      for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
        const path = `/v2/a/blobs/uploads/${bad}${method === 'PUT' ? `?digest=${sha256(chunk)}` : ''}`;
        const res = await rawHttp(reg.port, method, path, method === 'GET' || method === 'DELETE' ? {} : { 'Content-Type': 'application/octet-stream' }, method === 'GET' || method === 'DELETE' ? undefined : 'zz');
        assert.equal(res.status, 404, `${method} ${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
        assert.equal(errorCode(res.body), 'BLOB_UPLOAD_UNKNOWN', `${method} ${path}`);
      }
    }
    // The id of a's upload used through repository b (which exists) and c (which does not): unknown there.
    for (const other of ['b', 'c', 'a/b']) {
      for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
        const path = `/v2/${other}/blobs/uploads/${id}${method === 'PUT' ? `?digest=${sha256(chunk)}` : ''}`;
        const headers: Record<string, string> = method === 'PATCH' ? { 'Content-Type': 'application/octet-stream', 'Content-Range': `${chunk.length}-${chunk.length + 1}` } : {};
        const res = await rawHttp(reg.port, method, path, headers, method === 'PATCH' ? 'zz' : undefined);
        assert.equal(res.status, 404, `${method} ${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
        assert.equal(errorCode(res.body), 'BLOB_UPLOAD_UNKNOWN', `${method} ${path}`);
      }
    }
    // a's upload is untouched: same size, and it finishes into a blob of a only.
    const status = await fetch(`${reg.url}/v2/a/blobs/uploads/${id}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${chunk.length - 1}`);
    const done = await fetch(`${reg.url}/v2/a/blobs/uploads/${id}?digest=${sha256(chunk)}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    assert.equal((await fetch(`${reg.url}/v2/a/blobs/${sha256(chunk)}`, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`${reg.url}/v2/b/blobs/${sha256(chunk)}`, { method: 'HEAD' })).status, 404);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Body caps

/**
 * Write chunks to `socket` until `stop` settles, the socket closes, or `max` bytes were written. Resolves with
 * the bytes written (a server that stops reading makes writes wait for 'drain', which never comes: `stop` ends
 * that wait).
 */
async function writeUntil(socket: import('node:net').Socket, chunk: Buffer, stop: Promise<unknown>, max: number): Promise<number> {
  let stopped = false;
  void stop.then(
    () => (stopped = true),
    () => (stopped = true),
  );
  let written = 0;
  const closed = once(socket, 'close').catch(() => {});
  socket.on('error', () => {});
  while (!stopped && !socket.destroyed && written < max) {
    const ok = socket.write(chunk);
    written += chunk.length;
    if (!ok) await Promise.race([once(socket, 'drain').catch(() => {}), stop.catch(() => {}), closed]);
  }
  return written;
}

function chunked(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
}

describe('request bodies are capped', () => {
  test('a manifest PUT larger than 4 MiB (Content-Length says so) is 413 before its body is read, and the connection is closed', async (t) => {
    const reg = await serveInProcess(t);
    const socket = await openSocket(reg.port);
    const response = readResponse(socket, { closeWaitMs: 2000 });
    socket.write(`PUT /v2/big/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: ${5 * MiB}\r\n\r\n`);
    socket.write('{"schemaVersion":2,');
    // No more body: the answer must come from the header alone.
    const res = await response;
    assert.equal(res.status, 413, res.head);
    assert.equal(errorCode(res.body), 'SIZE_INVALID', res.body.toString());
    assert.equal(res.headers.connection, 'close');
    assert.ok(res.closed, 'the server kept the connection open after refusing the body');
    assert.equal((await fetch(`${reg.url}/v2/big/app/manifests/v1`)).status, 404);
  });

  test('a chunked manifest PUT without Content-Length is 413 once it passes 4 MiB, the connection is closed, and the rest is not read', async (t) => {
    const reg = await serveInProcess(t);
    const socket = await openSocket(reg.port);
    const response = readResponse(socket, { closeWaitMs: 2000, timeoutMs: 15_000 });
    socket.write(`PUT /v2/big/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const written = await writeUntil(socket, chunked(Buffer.alloc(64 * 1024, 0x20)), response, 256 * MiB);
    const res = await response;
    assert.equal(res.status, 413, res.head);
    assert.equal(errorCode(res.body), 'SIZE_INVALID');
    assert.ok(res.closed, 'the connection stayed open');
    // The server answered after 4 MiB; what else got written sat in socket buffers, never in a growing Buffer.
    assert.ok(written < 64 * MiB, `the client could write ${Math.round(written / MiB)} MiB before the server stopped reading`);
    assert.equal((await fetch(`${reg.url}/v2/big/app/manifests/v1`)).status, 404);
  });

  test('lying Content-Length: a 1 KiB Content-Length followed by 5 MiB, and CL+TE or doubled CL, store nothing and close the connection', async (t) => {
    const reg = await serveInProcess(t);
    // 1. The length says 1 KiB; 5 MiB follow. The server takes 1 KiB as the manifest (not a manifest: 400) and
    //    the rest is not a request: it must not be buffered as one.
    {
      const socket = await openSocket(reg.port);
      const response = readResponse(socket, { closeWaitMs: 2000, timeoutMs: 10_000 });
      socket.write(`PUT /v2/lie/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: 1024\r\n\r\n`);
      const written = await writeUntil(socket, Buffer.alloc(64 * 1024, 0x41), response, 5 * MiB);
      const res = await response;
      // Node's parser meets the 5 MiB of non-HTTP after the declared body: a bare 400, and the connection goes.
      assert.equal(res.status, 400, `${res.status} ${res.body.toString().slice(0, 200)}`);
      assert.ok(res.closed, 'the connection stayed open');
      assert.ok(written <= 5 * MiB);
    }
    // 2. Request smuggling: Content-Length and Transfer-Encoding together, or two different Content-Lengths.
    for (const headers of [
      `Content-Length: 10\r\nTransfer-Encoding: chunked\r\n`,
      `Transfer-Encoding: chunked\r\nContent-Length: 10\r\n`,
      `Content-Length: 10\r\nContent-Length: ${5 * MiB}\r\n`,
      `Content-Length: -1\r\n`,
      `Content-Length: 99999999999999999999999\r\n`,
      `Content-Length: 0x10\r\n`,
    ]) {
      const socket = await openSocket(reg.port);
      const response = readResponse(socket, { closeWaitMs: 2000 }).catch((err: Error) => err);
      socket.write(`PUT /v2/lie/app/manifests/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\n${headers}\r\n0123456789`);
      const res = await response;
      if (res instanceof Error) continue; // closed without an answer: refused too
      assert.equal(res.status, 400, `${JSON.stringify(headers)}: ${res.status}`);
      assert.ok(res.closed, `${JSON.stringify(headers)}: the connection stayed open`);
    }
    for (const tag of ['v1', 'v2']) assert.equal((await fetch(`${reg.url}/v2/lie/app/manifests/${tag}`)).status, 404);
    assert.equal((await fetch(`${reg.url}/v2/lie/app/tags/list`)).status, 404);
  });

  test('a token POST larger than 64 KiB is 413 (with Content-Length, and chunked without one) and the connection is closed', async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const reg = await serveInProcess(t, { auth: { users: { alice: 'pw' }, access: [] } });
    {
      const socket = await openSocket(reg.port);
      const response = readResponse(socket, { closeWaitMs: 2000 });
      socket.write(`POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${65 * 1024}\r\n\r\ngrant_type=password&`);
      const res = await response;
      assert.equal(res.status, 413, res.head);
      assert.equal(errorCode(res.body), 'SIZE_INVALID');
      assert.ok(res.closed);
    }
    {
      const socket = await openSocket(reg.port);
      const response = readResponse(socket, { closeWaitMs: 2000, timeoutMs: 10_000 });
      socket.write(`POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const written = await writeUntil(socket, chunked(Buffer.from(`scope=${'a'.repeat(4000)}&`)), response, 64 * MiB);
      const res = await response;
      assert.equal(res.status, 413, res.head);
      assert.equal(errorCode(res.body), 'SIZE_INVALID');
      assert.ok(res.closed);
      assert.ok(written < 32 * MiB, `${Math.round(written / MiB)} MiB written before the server stopped reading`);
    }
  });

  test('an upload chunk longer (or shorter) than its Content-Range is SIZE_INVALID and leaves the upload as it was', async (t) => {
    const reg = await serveInProcess(t);
    const start = await fetch(`${reg.url}/v2/caps/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const id = start.headers.get('docker-upload-uuid')!;
    const dataFile = join(reg.storage, '.wharf', 'uploads', id, 'data');
    const hundred = bytesOf('hundred', 100);
    // Content-Length and Content-Range disagree: refused before a byte is stored.
    const mismatch = await rawHttp(reg.port, 'PATCH', location, { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-99', 'Content-Length': '200' }, bytesOf('two hundred', 200));
    assert.equal(mismatch.status, 400, mismatch.body.toString());
    assert.equal(errorCode(mismatch.body), 'SIZE_INVALID');
    // Chunked (no Content-Length): 200 bytes where the range says 100, then 50 where it says 100.
    for (const [label, body] of [
      ['longer', bytesOf('two hundred', 200)],
      ['shorter', bytesOf('fifty', 50)],
    ] as const) {
      const req = Buffer.concat([
        Buffer.from(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Range: 0-99\r\nTransfer-Encoding: chunked\r\n\r\n`),
        chunked(body),
        Buffer.from('0\r\n\r\n'),
      ]);
      const socket = await openSocket(reg.port);
      const response = readResponse(socket);
      socket.write(req);
      const res = await response;
      assert.equal(res.status, 400, `${label}: ${res.status} ${res.body.toString()}`);
      assert.equal(errorCode(res.body), 'SIZE_INVALID', label);
      assert.equal((await fsp.stat(dataFile)).size, 0, `${label}: the refused chunk was kept`);
    }
    // The upload is still at 0: a correct first chunk is accepted at offset 0.
    const ok = await fetch(new URL(location, reg.url), { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-99' }, body: hundred });
    assert.equal(ok.status, 202, await ok.text());
    assert.equal(ok.headers.get('range'), '0-99');
    const status = await fetch(new URL(location, reg.url));
    assert.equal(status.headers.get('range'), '0-99');
    const done = await fetch(`${new URL(location, reg.url).href}?digest=${sha256(hundred)}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
  });
});

describe('a refused upload does not bring the server down', () => {
  /** `wharf serve` as a child (a crash must not take the test runner with it), maxBlobBytes 1 MiB. */
  async function child(t: TestContext) {
    const dir = await scratchDir(t, 'wharf-sec-child-');
    await fsp.writeFile(join(dir, 'serve.yaml'), `limits: { maxBlobBytes: ${MiB} }\n`);
    return spawnServe(t, join(dir, 'storage'), ['--config', join(dir, 'serve.yaml')]);
  }

  async function assertAlive(srv: Awaited<ReturnType<typeof child>>, after: string): Promise<void> {
    await new Promise((r) => setTimeout(r, 300));
    const exited = srv.child.exitCode !== null || srv.child.signalCode !== null;
    const stack = srv.lines.filter((l) => !l.startsWith('{')).slice(0, 8).join('\n');
    assert.ok(!exited, `the server exited (${srv.child.exitCode ?? srv.child.signalCode}) after ${after}:\n${stack}`);
    assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
  }

  async function openUpload(url: string): Promise<string> {
    const start = await fetch(`${url}/v2/caps/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    return start.headers.get('location')!;
  }

  test('a chunked PATCH longer than its Content-Range, still sending when refused, is SIZE_INVALID and the server keeps running', async (t) => {
    const srv = await child(t);
    const location = await openUpload(srv.url);
    const socket = await openSocket(srv.port);
    const response = readResponse(socket, { closeWaitMs: 1000, timeoutMs: 10_000 }).catch((err: Error) => err);
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Range: 0-99\r\nTransfer-Encoding: chunked\r\n\r\n`);
    await writeUntil(socket, chunked(Buffer.alloc(64 * 1024, 1)), response, 4 * MiB);
    const res = await response;
    await assertAlive(srv, 'a PATCH of 4 MiB with Content-Range 0-99');
    assert.ok(!(res instanceof Error), `no answer: ${String(res)}`);
    assert.equal(res.status, 400);
    assert.equal(errorCode(res.body), 'SIZE_INVALID');
  });

  test('a chunked PATCH past limits.maxBlobBytes is 413 SIZE_INVALID, cut back off, and the server keeps running', async (t) => {
    const srv = await child(t);
    const location = await openUpload(srv.url);
    const hundred = bytesOf('hundred', 100);
    const first = await fetch(new URL(location, srv.url), { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-99' }, body: hundred });
    assert.equal(first.status, 202);
    const socket = await openSocket(srv.port);
    const response = readResponse(socket, { closeWaitMs: 1000, timeoutMs: 10_000 }).catch((err: Error) => err);
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
    await writeUntil(socket, chunked(Buffer.alloc(64 * 1024, 1)), response, 8 * MiB);
    const res = await response;
    await assertAlive(srv, 'a PATCH past maxBlobBytes');
    assert.ok(!(res instanceof Error), `no answer: ${String(res)}`);
    assert.equal(res.status, 413);
    assert.equal(errorCode(res.body), 'SIZE_INVALID');
    const status = await fetch(new URL(location, srv.url));
    assert.equal(status.headers.get('range'), '0-99', 'the refused chunk was kept');
    const done = await fetch(`${new URL(location, srv.url).href}?digest=${sha256(hundred)}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
  });

  test('a monolithic POST past limits.maxBlobBytes is 413 SIZE_INVALID and the server keeps running', async (t) => {
    const srv = await child(t);
    const body = bytesOf('too big', 2 * MiB);
    const res = await fetch(`${srv.url}/v2/caps/app/blobs/uploads/?digest=${sha256(body)}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body }).catch((err: Error) => err);
    await assertAlive(srv, 'a 2 MiB monolithic upload');
    assert.ok(!(res instanceof Error), `no answer: ${String(res)}`);
    assert.equal(res.status, 413);
    assert.equal(await bodyCode(res), 'SIZE_INVALID');
    assert.equal((await fetch(`${srv.url}/v2/caps/app/blobs/${sha256(body)}`, { method: 'HEAD' })).status, 404);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Auth

const USERS = { alice: 'alice-Pa55', bob: 'bob-Pa55' };
const ACCESS: AccessRule[] = [
  { repositories: ['team-a/**'], users: ['alice'], actions: ['pull', 'push', 'delete'] },
  { repositories: ['**'], users: ['bob'], actions: ['pull'] },
  { repositories: ['public/**'], anonymous: ['pull'] },
];

interface AuthRegistry extends InProcessRegistry {
  key: Buffer;
  app: TestImage;
  secret: TestImage;
  pub: TestImage;
  /** An upload session of team-a/app, opened by alice. */
  uploadId: string;
}

/** team-a/app:v1, team-b/secret:v1 and public/base:v1 pushed (without auth), then served with ACCESS. */
async function authRegistry(t: TestContext): Promise<AuthRegistry | undefined> {
  if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return undefined;
  const base = await scratchDir(t, 'wharf-sec-auth-');
  const storage = join(base, 'storage');
  const seed = await serveInProcess(t, { storage });
  const app = makeImage('team-a/app');
  const secret = makeImage('team-b/secret', [3000]);
  const pub = makeImage('public/base');
  await pushImage(seed.url, 'team-a/app', 'v1', app);
  await pushImage(seed.url, 'team-b/secret', 'v1', secret);
  await pushImage(seed.url, 'public/base', 'v1', pub);
  await seed.server.close();
  const key = randomBytes(32);
  const keyPath = join(base, 'token.key');
  await fsp.writeFile(keyPath, key, { mode: 0o600 });
  const reg = await serveInProcess(t, { storage, auth: { users: USERS, access: ACCESS, keyPath } });
  const start = await fetch(`${reg.url}/v2/team-a/app/blobs/uploads/`, { method: 'POST', headers: basic('alice', USERS.alice) });
  assert.equal(start.status, 202, await start.text());
  return { ...reg, key, app, secret, pub, uploadId: start.headers.get('docker-upload-uuid')! };
}

interface RouteCase {
  label: string;
  method: string;
  path: string;
  /** The action the route needs; `catalog` and `base` are special. */
  action: 'pull' | 'push' | 'delete' | 'catalog' | 'base';
  body?: Buffer;
  headers?: Record<string, string>;
}

function everyRoute(reg: AuthRegistry, repo = 'team-a/app'): RouteCase[] {
  const layer = reg.app.blobs[1]!;
  const upload = `/v2/${repo}/blobs/uploads/${reg.uploadId}`;
  const octet = { 'Content-Type': 'application/octet-stream' };
  return [
    { label: 'GET /v2/', method: 'GET', path: '/v2/', action: 'base' },
    { label: 'GET manifest', method: 'GET', path: `/v2/${repo}/manifests/v1`, action: 'pull' },
    { label: 'HEAD manifest', method: 'HEAD', path: `/v2/${repo}/manifests/v1`, action: 'pull' },
    { label: 'PUT manifest', method: 'PUT', path: `/v2/${repo}/manifests/v2`, action: 'push', body: reg.app.manifest, headers: { 'Content-Type': OCI_MANIFEST } },
    { label: 'DELETE manifest', method: 'DELETE', path: `/v2/${repo}/manifests/${reg.app.digest}`, action: 'delete' },
    { label: 'GET blob', method: 'GET', path: `/v2/${repo}/blobs/${layer}`, action: 'pull' },
    { label: 'HEAD blob', method: 'HEAD', path: `/v2/${repo}/blobs/${layer}`, action: 'pull' },
    { label: 'DELETE blob', method: 'DELETE', path: `/v2/${repo}/blobs/${layer}`, action: 'delete' },
    { label: 'POST upload', method: 'POST', path: `/v2/${repo}/blobs/uploads/`, action: 'push' },
    { label: 'POST monolithic upload', method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${sha256('evil')}`, action: 'push', body: Buffer.from('evil'), headers: octet },
    { label: 'POST mount', method: 'POST', path: `/v2/${repo}/blobs/uploads/?mount=${reg.pub.blobs[1]}&from=public/base`, action: 'push' },
    { label: 'PATCH upload', method: 'PATCH', path: upload, action: 'push', body: Buffer.from('evil'), headers: { ...octet, 'Content-Range': '0-3' } },
    { label: 'PUT upload', method: 'PUT', path: `${upload}?digest=${sha256('evil')}`, action: 'push', body: Buffer.from('evil'), headers: octet },
    { label: 'GET upload', method: 'GET', path: upload, action: 'push' },
    { label: 'DELETE upload', method: 'DELETE', path: upload, action: 'push' },
    { label: 'GET tags/list', method: 'GET', path: `/v2/${repo}/tags/list`, action: 'pull' },
    { label: 'GET referrers', method: 'GET', path: `/v2/${repo}/referrers/${reg.app.digest}`, action: 'pull' },
    { label: 'GET _catalog', method: 'GET', path: '/v2/_catalog', action: 'catalog' },
  ];
}

async function call(reg: InProcessRegistry, r: RouteCase, auth: Record<string, string> = {}): Promise<{ res: Response; body: Buffer }> {
  const init: RequestInit = { method: r.method, headers: { ...r.headers, ...auth } };
  if (r.body) init.body = r.body;
  const res = await fetch(`${reg.url}${r.path}`, init);
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

const scopeOf = (repo: string, action: string): string => `repository:${repo}:${action === 'push' ? 'pull,push' : action}`;

/** Nothing any refused request could have changed did change: v1 pulls, v2 does not exist, the upload is empty. */
async function assertUntouched(reg: AuthRegistry): Promise<void> {
  const alice = basic('alice', USERS.alice);
  await pullVerify(reg.url, 'team-a/app', 'v1', alice);
  assert.equal((await fetch(`${reg.url}/v2/team-a/app/manifests/v2`, { headers: alice })).status, 404, 'a refused PUT stored a manifest');
  const tags = (await (await fetch(`${reg.url}/v2/team-a/app/tags/list`, { headers: alice })).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['v1']);
  const status = await fetch(`${reg.url}/v2/team-a/app/blobs/uploads/${reg.uploadId}`, { headers: alice });
  assert.equal(status.status, 204, 'a refused DELETE removed the upload');
  assert.equal(status.headers.get('range'), '0-0');
  assert.equal((await fsp.stat(join(reg.storage, '.wharf', 'uploads', reg.uploadId, 'data'))).size, 0, 'a refused PATCH stored bytes');
  assert.equal((await fetch(`${reg.url}/v2/team-a/app/blobs/${sha256('evil')}`, { method: 'HEAD', headers: alice })).status, 404);
  assert.equal((await fetch(`${reg.url}/v2/team-a/app/blobs/${reg.pub.blobs[1]}`, { method: 'HEAD', headers: alice })).status, 404, 'a refused mount was performed');
}

function tokenPayload(token: string): TokenClaims {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as TokenClaims;
}

async function getToken(reg: InProcessRegistry, scopes: string[], auth: Record<string, string> = {}): Promise<string> {
  const q = new URLSearchParams({ service: 'wharf' });
  for (const s of scopes) q.append('scope', s);
  const res = await fetch(`${reg.url}/token?${q}`, { headers: auth });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { token: string }).token;
}

describe('auth on every route', () => {
  test('no credentials: every route is 401 with a Bearer challenge naming the realm and the scope (public/** aside)', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    for (const r of everyRoute(reg)) {
      const { res, body } = await call(reg, r);
      assert.equal(res.status, 401, `${r.label}: ${res.status} ${body.toString().slice(0, 200)}`);
      if (r.method !== 'HEAD') assert.equal(errorCode(body), 'UNAUTHORIZED', `${r.label}: ${body.toString()}`);
      const www = res.headers.get('www-authenticate') ?? '';
      assert.match(www, /^Bearer /, `${r.label}: ${www}`);
      assert.ok(www.includes(`realm="${reg.url}/token"`), `${r.label}: ${www}`);
      assert.ok(www.includes('service="wharf"'), `${r.label}: ${www}`);
      if (r.action !== 'base' && r.action !== 'catalog') assert.ok(www.includes(`scope="${scopeOf('team-a/app', r.action)}"`), `${r.label}: ${www}`);
    }
    await assertUntouched(reg);
  });

  test('no credentials on _catalog: the challenge names the registry:catalog:* scope a token needs', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const res = await fetch(`${reg.url}/v2/_catalog`);
    assert.equal(res.status, 401);
    // A token client asks the realm for exactly the scope of the challenge; without it, the token it gets grants
    // no catalog access and the client loops on 401 (distribution names registry:catalog:* here).
    assert.ok((res.headers.get('www-authenticate') ?? '').includes('scope="registry:catalog:*"'), res.headers.get('www-authenticate') ?? '');
  });

  test('wrong password (and unknown user, malformed Basic): every route is 401', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const wrong = [
      basic('alice', 'wrong'),
      basic('alice', ''),
      basic('alice', `${USERS.alice}x`),
      basic('mallory', USERS.alice),
      basic('Alice', USERS.alice),
      { Authorization: 'Basic !!!notbase64' },
      { Authorization: `Basic ${b64('alice')}` },
      { Authorization: 'Digest username="alice"' },
    ];
    for (const auth of wrong) {
      for (const r of everyRoute(reg)) {
        const { res, body } = await call(reg, r, auth);
        assert.equal(res.status, 401, `${r.label} with ${auth.Authorization}: ${res.status} ${body.toString().slice(0, 200)}`);
        if (r.method !== 'HEAD') assert.equal(errorCode(body), 'UNAUTHORIZED');
        assert.ok(res.headers.get('www-authenticate'), `${r.label}: no challenge`);
      }
    }
    await assertUntouched(reg);
  });

  test('forged, expired, alg=none, other-audience, other-issuer, refresh and tampered JWTs are 401 invalid_token', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: 'wharf',
      sub: 'alice',
      aud: 'wharf',
      exp: now + 300,
      nbf: now,
      iat: now,
      jti: 'test',
      access: [
        { type: 'repository', name: 'team-a/app', actions: ['pull', 'push', 'delete'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ],
    };
    const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    // The same claims with the right key: a token that works, so each refusal below is for its one defect.
    const good = signToken(claims, reg.key);
    const bobToken = await getToken(reg, ['repository:team-a/app:pull,push'], basic('bob', USERS.bob));
    const [bh, , bs] = bobToken.split('.');
    const bad: [string, string][] = [
      ['forged (another key)', signToken(claims, randomBytes(32))],
      ['expired an hour ago', signToken({ ...claims, exp: now - 3600, nbf: now - 7200, iat: now - 7200 }, reg.key)],
      ['not valid for an hour', signToken({ ...claims, nbf: now + 3600, iat: now + 3600, exp: now + 7200 }, reg.key)],
      ['alg=none, no signature', `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`],
      ['alg=none, any signature', `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.${good.split('.')[2]}`],
      ['alg=HS512', `${enc({ alg: 'HS512', typ: 'JWT' })}.${enc(claims)}.${good.split('.')[2]}`],
      ['another audience', signToken({ ...claims, aud: 'other-registry' }, reg.key)],
      ['another issuer', signToken({ ...claims, iss: 'someone-else' }, reg.key)],
      ['a refresh token', signToken({ ...claims, token_use: 'refresh' }, reg.key)],
      ["bob's token with its payload swapped for alice's access", `${bh}.${enc({ ...tokenPayload(bobToken), access: claims.access })}.${bs}`],
      ['two parts', good.split('.').slice(0, 2).join('.')],
      ['garbage', 'not-a-jwt'],
    ];
    const routes = everyRoute(reg);
    for (const r of routes.filter((x) => x.label === 'GET manifest')) {
      const { res } = await call(reg, r, bearer(good));
      assert.equal(res.status, 200, 'the control token works');
    }
    for (const [label, token] of bad) {
      for (const r of routes) {
        const { res, body } = await call(reg, r, bearer(token));
        assert.equal(res.status, 401, `${label}, ${r.label}: ${res.status} ${body.toString().slice(0, 200)}`);
        if (r.method !== 'HEAD') assert.equal(errorCode(body), 'UNAUTHORIZED');
        const www = res.headers.get('www-authenticate') ?? '';
        assert.ok(www.startsWith('Bearer ') && www.includes('error="invalid_token"'), `${label}, ${r.label}: ${www}`);
      }
    }
    await assertUntouched(reg);
  });

  test('bob (pull on **) cannot push or delete: 403 DENIED with Basic, and a token for bob grants no push', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const bob = basic('bob', USERS.bob);
    for (const r of everyRoute(reg)) {
      const { res, body } = await call(reg, r, bob);
      if (r.action === 'push' || r.action === 'delete') {
        assert.equal(res.status, 403, `${r.label}: ${res.status} ${body.toString().slice(0, 200)}`);
        assert.equal(errorCode(body), 'DENIED', r.label);
      } else {
        assert.ok(res.status >= 200 && res.status < 300, `${r.label}: bob may pull: ${res.status}`);
      }
    }
    const token = await getToken(reg, ['repository:team-a/app:pull,push,delete', 'repository:team-b/secret:*'], bob);
    assert.deepEqual(
      tokenPayload(token).access.map((a) => [a.name, a.actions]),
      [
        ['team-a/app', ['pull']],
        ['team-b/secret', ['pull']],
      ],
    );
    for (const r of everyRoute(reg)) {
      if (r.action === 'catalog' || r.action === 'base') continue;
      const { res, body } = await call(reg, r, bearer(token));
      if (r.action === 'push' || r.action === 'delete') {
        assert.equal(res.status, 401, `${r.label} with bob's token: ${res.status} ${body.toString().slice(0, 200)}`);
        assert.ok((res.headers.get('www-authenticate') ?? '').includes('error="insufficient_scope"'), r.label);
      } else {
        assert.ok(res.status >= 200 && res.status < 300, `${r.label}: bob's token pulls: ${res.status}`);
      }
    }
    await assertUntouched(reg);
  });

  test('a token issued for one repository does not work on another', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const alice = basic('alice', USERS.alice);
    const token = await getToken(reg, ['repository:team-a/app:pull,push,delete', 'repository:team-b/secret:pull'], alice);
    assert.deepEqual(
      tokenPayload(token).access.map((a) => [a.name, a.actions]),
      [
        ['team-a/app', ['pull', 'push', 'delete']],
        ['team-b/secret', []],
      ],
    );
    await pullVerify(reg.url, 'team-a/app', 'v1', bearer(token));
    // team-a/other: alice may push there by policy, but this token does not say so.
    for (const r of everyRoute(reg, 'team-a/other')) {
      if (r.action === 'catalog' || r.action === 'base' || r.path.includes(reg.uploadId)) continue;
      const { res, body } = await call(reg, r, bearer(token));
      assert.equal(res.status, 401, `${r.label} on team-a/other: ${res.status} ${body.toString().slice(0, 200)}`);
      assert.ok((res.headers.get('www-authenticate') ?? '').includes(`scope="${scopeOf('team-a/other', r.action)}"`), r.label);
    }
    for (const r of everyRoute(reg, 'team-b/secret')) {
      if (r.action === 'catalog' || r.action === 'base' || r.path.includes(reg.uploadId)) continue;
      const { res } = await call(reg, r, bearer(token));
      assert.equal(res.status, 401, `${r.label} on team-b/secret`);
    }
    // alice's upload id through another repository, with a token for that repository: still unknown there.
    const other = await getToken(reg, ['repository:team-a/other:pull,push'], alice);
    const res = await fetch(`${reg.url}/v2/team-a/other/blobs/uploads/${reg.uploadId}`, { headers: bearer(other) });
    assert.equal(res.status, 404);
    assert.equal(await bodyCode(res), 'BLOB_UPLOAD_UNKNOWN');
  });

  test('blob leak: a cross-repository mount from a repository the user cannot pull is not performed (202 upload session instead)', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const alice = basic('alice', USERS.alice);
    const secretLayer = reg.secret.blobs[1]!;
    const token = await getToken(reg, ['repository:team-a/app:pull,push', 'repository:team-b/secret:pull'], alice);
    const attempts: [string, Record<string, string>][] = [
      [`?mount=${secretLayer}&from=team-b/secret`, alice],
      [`?mount=${secretLayer}&from=team-b/secret`, bearer(token)],
      [`?mount=${secretLayer}`, alice],
      [`?mount=${secretLayer}&from=${encodeURIComponent('team-a/../team-b/secret')}`, alice],
      [`?mount=${secretLayer}&from=${encodeURIComponent('team-a/app/../../team-b/secret')}`, alice],
      [`?mount=${secretLayer}&from=${encodeURIComponent('../team-b/secret')}`, alice],
      [`?mount=${secretLayer}&from=team-a/app`, alice],
    ];
    for (const [query, auth] of attempts) {
      const res = await fetch(`${reg.url}/v2/team-a/app/blobs/uploads/${query}`, { method: 'POST', headers: auth });
      await res.arrayBuffer();
      assert.equal(res.status, 202, `POST ${query} as ${auth.Authorization!.split(' ')[0]}: ${res.status} (a 201 means the blob was mounted)`);
      assert.ok(res.headers.get('location')?.startsWith('/v2/team-a/app/blobs/uploads/'), 'a plain upload session instead');
      assert.equal((await fetch(`${reg.url}/v2/team-a/app/blobs/${secretLayer}`, { headers: alice })).status, 404, `after ${query}: the secret layer is readable through team-a/app`);
    }
    // Nor can a manifest naming the secret layer be pushed to team-a/app and then pulled there.
    const leak = makeImage('leak');
    await pushBlob(reg.url, 'team-a/app', leak.config, alice);
    const manifest = JSON.parse(leak.manifest.toString()) as { layers: unknown[] };
    manifest.layers = [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: secretLayer, size: reg.secret.layers[0]!.length }];
    const put = await putManifest(reg.url, 'team-a/app', 'leak', Buffer.from(JSON.stringify(manifest)), alice);
    assert.equal(put.status, 400);
    assert.equal(await bodyCode(put), 'MANIFEST_BLOB_UNKNOWN');
    // Control: a mount between repositories alice can pull does happen.
    const ok = await fetch(`${reg.url}/v2/team-a/copy/blobs/uploads/?mount=${reg.app.blobs[1]}&from=team-a/app`, { method: 'POST', headers: alice });
    assert.equal(ok.status, 201);
  });

  test('anonymous can pull public/** but not push, delete, or read anything else', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    await pullVerify(reg.url, 'public/base', 'v1');
    const tags = await fetch(`${reg.url}/v2/public/base/tags/list`);
    assert.equal(tags.status, 200);
    for (const r of everyRoute(reg, 'public/base')) {
      if (r.action === 'base' || r.action === 'catalog' || r.path.includes(reg.uploadId)) continue;
      const { res, body } = await call(reg, r);
      if (r.action === 'pull') {
        // team-a/app's layer is not in public/base: 404 there; everything else pulls.
        assert.ok(res.status === 200 || res.status === 404, `${r.label}: ${res.status}`);
        continue;
      }
      assert.equal(res.status, 401, `${r.label} on public/base: ${res.status} ${body.toString().slice(0, 200)}`);
      assert.ok((res.headers.get('www-authenticate') ?? '').includes(`scope="${scopeOf('public/base', r.action)}"`), r.label);
    }
    const anon = await getToken(reg, ['repository:public/base:pull,push,delete', 'repository:team-a/app:pull']);
    assert.deepEqual(
      tokenPayload(anon).access.map((a) => [a.name, a.actions]),
      [
        ['public/base', ['pull']],
        ['team-a/app', []],
      ],
    );
    await pullVerify(reg.url, 'public/base', 'v1', bearer(anon));
    const push = await fetch(`${reg.url}/v2/public/base/blobs/uploads/`, { method: 'POST', headers: bearer(anon) });
    assert.equal(push.status, 401);
    const del = await fetch(`${reg.url}/v2/public/base/manifests/${reg.pub.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 401);
    assert.equal((await fetch(`${reg.url}/v2/team-a/app/manifests/v1`)).status, 401);
    assert.equal((await fetch(`${reg.url}/v2/team-a/app/manifests/v1`, { headers: bearer(anon) })).status, 401);
    await pullVerify(reg.url, 'public/base', 'v1');
  });

  test('dot segments do not get past access control: anonymous /v2/public/base/../../team-b/secret/… is 401, never the secret', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const layer = reg.secret.blobs[1]!;
    for (const via of ['public/base/../../team-b/secret', 'public/%2e%2e/team-b/secret', 'public/base\\..\\..\\team-b/secret', 'team-b/secret/../../public/base/../../team-b/secret']) {
      for (const path of [`/v2/${via}/manifests/v1`, `/v2/${via}/blobs/${layer}`, `/v2/${via}/tags/list`]) {
        const anonymous = await rawHttp(reg.port, 'GET', path);
        assert.ok([400, 401, 404].includes(anonymous.status), `anonymous GET ${path}: ${anonymous.status}`);
        assert.ok(!anonymous.body.includes(reg.secret.layers[0]!.subarray(0, 64)), `anonymous GET ${path} returned the secret layer`);
        // alice may push to team-a/** only: a write through a name that normalises into team-b is refused too.
        const write = await rawHttp(reg.port, 'DELETE', `/v2/team-a/x/../../${via}/manifests/${reg.secret.digest}`, basic('alice', USERS.alice));
        assert.ok([400, 401, 403, 404].includes(write.status), `alice DELETE through ${via}: ${write.status}`);
      }
    }
    await pullVerify(reg.url, 'team-b/secret', 'v1', basic('bob', USERS.bob));
  });

  test('the catalog lists only what the caller can pull', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const list = async (auth: Record<string, string>, query = ''): Promise<{ status: number; repositories?: string[]; link: string | null }> => {
      const res = await fetch(`${reg.url}/v2/_catalog${query}`, { headers: auth });
      const body = (await res.json()) as { repositories?: string[] };
      return { status: res.status, link: res.headers.get('link'), ...body };
    };
    const alice = basic('alice', USERS.alice);
    const bob = basic('bob', USERS.bob);
    assert.deepEqual((await list(alice)).repositories, ['public/base', 'team-a/app']);
    assert.deepEqual((await list(bob)).repositories, ['public/base', 'team-a/app', 'team-b/secret']);
    assert.equal((await list({})).status, 401);
    // Paging through it one at a time shows no more.
    const seen: string[] = [];
    let query = '?n=1';
    for (let i = 0; i < 5; i++) {
      const page = await list(alice, query);
      seen.push(...(page.repositories ?? []));
      if (!page.link) break;
      query = page.link.slice(page.link.indexOf('?'), page.link.indexOf('>'));
    }
    assert.deepEqual(seen, ['public/base', 'team-a/app']);
    assert.deepEqual((await list(alice, '?last=team-a/app')).repositories, []);
    // With a catalog token: never more than its user can pull (what it should show is the next test).
    const aliceToken = await getToken(reg, ['registry:catalog:*'], alice);
    const viaToken = await list(bearer(aliceToken));
    assert.equal(viaToken.status, 200);
    for (const repo of viaToken.repositories ?? []) assert.ok(['public/base', 'team-a/app'].includes(repo), `alice's catalog token lists ${repo}`);
    const noCatalog = await getToken(reg, ['repository:team-a/app:pull'], alice);
    assert.equal((await list(bearer(noCatalog))).status, 401);
    const anonCatalog = await getToken(reg, ['registry:catalog:*']);
    assert.equal((await list(bearer(anonCatalog))).status, 401);
  });

  test('a registry:catalog:* token lists the repositories its user can pull (not an empty list)', async (t) => {
    const reg = await authRegistry(t);
    if (!reg) return;
    const list = async (token: string): Promise<string[] | undefined> => {
      const res = await fetch(`${reg.url}/v2/_catalog`, { headers: bearer(token) });
      return ((await res.json()) as { repositories?: string[] }).repositories;
    };
    // docker, crane and skopeo list a catalog with a token asked for registry:catalog:*, and nothing else.
    assert.deepEqual(await list(await getToken(reg, ['registry:catalog:*'], basic('alice', USERS.alice))), ['public/base', 'team-a/app']);
    assert.deepEqual(await list(await getToken(reg, ['registry:catalog:*'], basic('bob', USERS.bob))), ['public/base', 'team-a/app', 'team-b/secret']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Timing


describe('password checks do not leak timing', () => {
  test('an unknown user and a known user with a wrong password both pay for a bcrypt comparison, on /v2/ and on /token', async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const reg = await serveInProcess(t, { auth: { users: USERS, access: ACCESS } });
    const stats = reg.passwordStats!;
    const form = (user: string, password: string): RequestInit => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: user, password, service: 'wharf' }).toString(),
    });
    // A correct login first: it is cached, and a wrong password must not ride on that cache.
    assert.equal((await fetch(`${reg.url}/v2/`, { headers: basic('alice', USERS.alice) })).status, 200);
    const attempts: [string, () => Promise<Response>, number][] = [
      ['unknown user on /v2/', () => fetch(`${reg.url}/v2/`, { headers: basic('mallory', 'guess') }), 401],
      ['wrong password on /v2/', () => fetch(`${reg.url}/v2/`, { headers: basic('alice', 'guess') }), 401],
      ['unknown user on /token', () => fetch(`${reg.url}/token`, form('mallory', 'guess')), 401],
      ['wrong password on /token', () => fetch(`${reg.url}/token`, form('alice', 'guess')), 401],
    ];
    // What makes the two indistinguishable is that both do the same work: exactly one bcrypt comparison each
    // (counted, not timed: the test suite makes no timed assertions). The times are printed for people.
    for (const [what, attempt, status] of attempts) {
      const before = stats();
      const t0 = performance.now();
      const res = await attempt();
      await res.arrayBuffer();
      const ms = performance.now() - t0;
      assert.equal(res.status, status, what);
      const after = stats();
      assert.equal(after.bcryptComparisons - before.bcryptComparisons, 1, `${what}: one bcrypt comparison`);
      assert.equal(after.cacheHits, before.cacheHits, `${what}: no cache hit`);
      t.diagnostic(`${what}: ${ms.toFixed(1)} ms`);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Secrets in logs

describe('no secret in any log line or error body', () => {
  test('passwords, their base64, and issued access and refresh tokens never appear in the access log or error bodies', async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const password = 'Zebra-Quokka-7731-secret';
    const wrongPassword = 'Pelican-Wrong-9924-guess';
    const reg = await serveInProcess(t, { auth: { users: { alice: password }, access: ACCESS } });
    const secrets = new Set<string>([password, wrongPassword, b64(`alice:${password}`), b64(`alice:${wrongPassword}`), encodeURIComponent(password)]);
    const bodies: string[] = [];
    const keep = async (res: Response): Promise<Response> => {
      bodies.push(await res.clone().text());
      return res;
    };
    const tokenOf = async (res: Response): Promise<{ token: string; refresh_token?: string }> => {
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { token: string; access_token: string; refresh_token?: string };
      secrets.add(body.token);
      secrets.add(body.access_token);
      if (body.refresh_token) secrets.add(body.refresh_token);
      return body;
    };
    const alice = basic('alice', password);
    const form = (fields: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    // Basic on ordinary requests, including a push.
    await keep(await fetch(`${reg.url}/v2/`, { headers: alice }));
    await pushImage(reg.url, 'team-a/app', 'v1', makeImage('secrets'), alice);
    await pullVerify(reg.url, 'team-a/app', 'v1', alice);
    // The token endpoint: GET with Basic (offline: a refresh token too), POST password and refresh grants.
    const scope = 'repository:team-a/app:pull,push';
    const viaGet = await tokenOf(await fetch(`${reg.url}/token?service=wharf&scope=${scope}&account=alice&offline_token=true`, { headers: alice }));
    const viaPost = await tokenOf(await fetch(`${reg.url}/token`, form({ grant_type: 'password', username: 'alice', password, service: 'wharf', scope, access_type: 'offline', client_id: 'test' })));
    assert.ok(viaGet.refresh_token && viaPost.refresh_token);
    const viaRefresh = await tokenOf(await fetch(`${reg.url}/token`, form({ grant_type: 'refresh_token', refresh_token: viaPost.refresh_token, service: 'wharf', scope, client_id: 'test' })));
    for (const tok of [viaGet.token, viaPost.token, viaRefresh.token]) {
      await pullVerify(reg.url, 'team-a/app', 'v1', bearer(tok));
      await keep(await fetch(`${reg.url}/v2/team-a/other/manifests/v1`, { headers: bearer(tok) })); // 401 insufficient_scope
    }
    // Failures: wrong password everywhere, a tampered token and refresh token, a refresh token as access token.
    const tampered = `${viaPost.token.slice(0, -4)}AAAA`;
    const tamperedRefresh = `${viaPost.refresh_token!.slice(0, -4)}AAAA`;
    secrets.add(tampered);
    secrets.add(tamperedRefresh);
    await keep(await fetch(`${reg.url}/v2/`, { headers: basic('alice', wrongPassword) }));
    await keep(await fetch(`${reg.url}/v2/team-a/app/manifests/v1`, { headers: basic('alice', wrongPassword) }));
    await keep(await fetch(`${reg.url}/token?service=wharf&scope=${scope}`, { headers: basic('alice', wrongPassword) }));
    await keep(await fetch(`${reg.url}/token`, form({ grant_type: 'password', username: 'alice', password: wrongPassword, service: 'wharf', scope })));
    await keep(await fetch(`${reg.url}/token`, form({ grant_type: 'password', username: 'mallory', password: wrongPassword, service: 'wharf', scope })));
    await keep(await fetch(`${reg.url}/token`, form({ grant_type: 'refresh_token', refresh_token: tamperedRefresh, service: 'wharf' })));
    await keep(await fetch(`${reg.url}/token`, form({ grant_type: 'refresh_token', refresh_token: viaPost.token, service: 'wharf' })));
    await keep(await fetch(`${reg.url}/token`, form({ grant_type: 'nonsense', password, service: 'wharf' })));
    await keep(await fetch(`${reg.url}/token`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: `password=${password}` }));
    await keep(await fetch(`${reg.url}/v2/team-a/app/manifests/v1`, { headers: bearer(tampered) }));
    await keep(await fetch(`${reg.url}/v2/team-a/app/manifests/v1`, { headers: bearer(viaPost.refresh_token!) }));
    await keep(await fetch(`${reg.url}/token?service=wharf`, { headers: bearer(viaPost.token) }));
    assert.ok(reg.log.length > 20, `only ${reg.log.length} log lines`);
    assert.ok(reg.log.some((e) => e.user === 'alice'), 'the log says who the caller was');
    const lines = [...reg.log.map((e) => JSON.stringify(e)), ...reg.warnings];
    for (const secret of secrets) {
      for (const line of lines) assert.ok(!line.includes(secret), `a log line holds a secret (${secret.slice(0, 12)}…): ${line}`);
      for (const body of bodies) assert.ok(!body.includes(secret), `an error body holds a secret (${secret.slice(0, 12)}…): ${body}`);
    }
  });
});
