/**
 * `wharf serve` and `wharf registry gc` killed with SIGKILL at the worst moments, and GC racing a push: after a
 * restart on the same storage, what was acknowledged is there, what was not is not visible, every stored file
 * hashes to its name, and no manifest ever names a blob the repository lacks.
 *
 * The server runs as a child process of the CLI (node dist/bin/wharf.js serve --listen 127.0.0.1:0 …), so
 * that kill -9 is real; GC runs as `wharf registry gc` (or, for the many-iteration race, in this process on
 * its own RegistryStore, which locks exactly as another process would).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { collectGarbage } from '../src/server/storage/gc.js';
import { RegistryStore } from '../src/server/storage/store.js';
import {
  OCI_MANIFEST,
  bytesOf,
  errorCode,
  imageOf,
  makeImage,
  misnamedBlobs,
  openSocket,
  pullVerify,
  pushBlob,
  pushImage,
  putManifest,
  runCli,
  scratchDir,
  serveInProcess,
  sha256,
  sleep,
  spawnServe,
  startCli,
  waitFor,
  type TestImage,
} from './helpers/serve.js';

const MiB = 1 << 20;

async function storageDir(t: TestContext, prefix: string): Promise<string> {
  return join(await scratchDir(t, prefix), 'storage');
}

async function fileSize(path: string): Promise<number> {
  return (await fsp.stat(path).catch(() => undefined))?.size ?? -1;
}

/** Push the config and layers of an image, but not its manifest. */
async function pushBlobsOf(url: string, repo: string, image: TestImage): Promise<void> {
  await pushBlob(url, repo, image.config);
  for (const l of image.layers) await pushBlob(url, repo, l);
}

describe('kill -9 of wharf serve', () => {
  test('mid chunked upload: after a restart the upload reports exactly the acknowledged bytes, no partial blob is visible, and it finishes with a verified digest', async (t) => {
    const storage = await storageDir(t, 'wharf-crash-chunked-');
    const data = randomBytes(4 * MiB);
    const digest = sha256(data);
    const chunk = MiB;
    let srv = await spawnServe(t, storage);
    const start = await fetch(`${srv.url}/v2/crash/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const id = start.headers.get('docker-upload-uuid')!;
    const dataFile = join(storage, '.wharf', 'uploads', id, 'data');
    // Two chunks acknowledged.
    for (let i = 0; i < 2; i++) {
      const res = await fetch(new URL(location, srv.url), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${i * chunk}-${(i + 1) * chunk - 1}` },
        body: data.subarray(i * chunk, (i + 1) * chunk),
      });
      assert.equal(res.status, 202, await res.text());
      assert.equal(res.headers.get('range'), `0-${(i + 1) * chunk - 1}`);
    }
    const acknowledged = 2 * chunk;
    // The third chunk: half of it sent, the server writing it, then kill -9.
    const socket = await openSocket(srv.port);
    socket.on('error', () => {});
    socket.write(
      `PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Range: ${acknowledged}-${acknowledged + chunk - 1}\r\nContent-Length: ${chunk}\r\n\r\n`,
    );
    socket.write(data.subarray(acknowledged, acknowledged + chunk / 2));
    const midWrite = await waitFor(async () => (await fileSize(dataFile)) > acknowledged, 5000);
    await srv.kill9();
    socket.destroy();
    const onDisk = await fileSize(dataFile);
    t.diagnostic(`killed ${midWrite ? 'while the third chunk was being written' : 'before the third chunk reached the disk'}: ${onDisk} bytes on disk, ${acknowledged} acknowledged`);

    srv = await spawnServe(t, storage);
    // Not a blob yet, by any digest: the whole, the acknowledged part, what is on disk.
    for (const d of [digest, sha256(data.subarray(0, acknowledged)), sha256(data.subarray(0, Math.max(0, onDisk)))]) {
      assert.equal((await fetch(`${srv.url}/v2/crash/app/blobs/${d}`, { method: 'HEAD' })).status, 404, `${d} is visible before the final PUT`);
    }
    const status = await fetch(new URL(location, srv.url));
    assert.equal(status.status, 204, 'the upload survives the restart');
    const reported = status.headers.get('range')!;
    const offset = Number(/^0-(\d+)$/.exec(reported)?.[1]) + 1;
    assert.ok(offset >= acknowledged && offset <= data.length, `Range ${reported}`);
    // Resume from what the server reports, then finish: the digest must verify.
    const rest = await fetch(new URL(location, srv.url), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${data.length - 1}` },
      body: data.subarray(offset),
    });
    assert.equal(rest.status, 202, await rest.text());
    assert.equal((await fetch(`${srv.url}/v2/crash/app/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'visible before the final PUT');
    const done = await fetch(`${new URL(location, srv.url).href}?digest=${digest}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    const blob = Buffer.from(await (await fetch(`${srv.url}/v2/crash/app/blobs/${digest}`)).arrayBuffer());
    assert.equal(sha256(blob), digest);
    // The spec's resumable upload: the status after a crash is what was acknowledged (202), not bytes of a chunk
    // that was never acknowledged (the client will resend from the acknowledged offset).
    assert.equal(reported, `0-${acknowledged - 1}`, `after the restart the upload reports ${offset} bytes; ${acknowledged} were acknowledged`);
  });

  test('mid monolithic PUT of a 32 MiB blob (and a monolithic POST): after a restart neither blob is visible and every file under blobs/ hashes to its name', async (t) => {
    const storage = await storageDir(t, 'wharf-crash-mono-');
    let srv = await spawnServe(t, storage);
    const seed = makeImage('crash/big seed', [4096, 8192]);
    await pushImage(srv.url, 'crash/big', 'v1', seed);
    const big = [randomBytes(32 * MiB), randomBytes(32 * MiB)];
    const digests = big.map((b) => sha256(b));
    const start = await fetch(`${srv.url}/v2/crash/big/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location')!;
    const requests = [
      `PUT ${location}?digest=${digests[0]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${big[0]!.length}\r\n\r\n`,
      `POST /v2/crash/big/blobs/uploads/?digest=${digests[1]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${big[1]!.length}\r\n\r\n`,
    ];
    const sockets = await Promise.all(requests.map(() => openSocket(srv.port)));
    let stop = false;
    const senders = sockets.map(async (socket, i) => {
      socket.on('error', () => {});
      socket.write(requests[i]!);
      // Slowly: 256 KiB every 5 ms, so the kill lands with both bodies half sent.
      for (let at = 0; at < big[i]!.length && !stop && !socket.destroyed; at += 256 * 1024) {
        socket.write(big[i]!.subarray(at, at + 256 * 1024));
        await sleep(5);
      }
    });
    const uploads = join(storage, '.wharf', 'uploads');
    const sizes = async (): Promise<number[]> => Promise.all((await fsp.readdir(uploads)).map((id) => fileSize(join(uploads, id, 'data'))));
    const both = await waitFor(async () => (await sizes()).filter((s) => s > 4 * MiB).length >= 2, 10_000);
    await srv.kill9();
    stop = true;
    await Promise.all(senders);
    for (const s of sockets) s.destroy();
    assert.ok(both, `the bodies did not both reach the disk before the kill: ${await sizes()}`);
    t.diagnostic(`killed with ${(await sizes()).map((s) => Math.round(s / MiB)).join(' and ')} MiB of the two uploads on disk`);

    srv = await spawnServe(t, storage);
    for (const d of digests) {
      assert.equal((await fetch(`${srv.url}/v2/crash/big/blobs/${d}`, { method: 'HEAD' })).status, 404, `${d} is visible after the crash`);
      const get = await fetch(`${srv.url}/v2/crash/big/blobs/${d}`);
      assert.equal(get.status, 404);
      await get.arrayBuffer();
    }
    assert.deepEqual(await misnamedBlobs(join(storage, 'crash', 'big', 'blobs')), [], 'a file in the repository does not hash to its name');
    assert.deepEqual(await misnamedBlobs(join(storage, '.wharf', 'blobs')), [], 'a file in the shared store does not hash to its name');
    await pullVerify(srv.url, 'crash/big', 'v1');
    // The blob can be pushed again from scratch.
    assert.equal(await pushBlob(srv.url, 'crash/big', big[0]!), digests[0]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// GC

/** Unreferenced blobs of `repo`, written as a push would leave them: bytes in .wharf/blobs, a link in the repository. */
async function addJunk(storage: string, repo: string, count: number, seed: string): Promise<void> {
  const shared = join(storage, '.wharf', 'blobs', 'sha256');
  const linked = join(storage, ...repo.split('/'), 'blobs', 'sha256');
  await fsp.mkdir(shared, { recursive: true });
  await fsp.mkdir(linked, { recursive: true });
  for (let i = 0; i < count; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, count - i) }, async (_, k) => {
        const content = `junk ${seed} ${i + k}`;
        const hex = createHash('sha256').update(content).digest('hex');
        await fsp.writeFile(join(shared, hex), content);
        await fsp.link(join(shared, hex), join(linked, hex));
      }),
    );
  }
}

async function findAll(dir: string, name: string, out: string[] = []): Promise<string[]> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.name === name) out.push(p);
    if (e.isDirectory() && e.name !== 'blobs') await findAll(p, name, out);
  }
  return out;
}

describe('kill -9 of wharf registry gc, and GC racing pushes', () => {
  test('mid-run on thousands of unreferenced blobs: every tagged image still pulls, index.json files parse, and a second gc completes', async (t) => {
    const storage = await storageDir(t, 'wharf-crash-gc-');
    const repos = ['gc/a0', 'gc/a1', 'gc/a2', 'gc/a3', 'gc/a4', 'gc/a5'];
    const shared = bytesOf('shared base layer', 20_000);
    const images = new Map<string, TestImage>();
    const untagged = makeImage('gc untagged', [3000]);
    {
      const seed = await serveInProcess(t, { storage });
      for (const repo of repos) {
        const own = bytesOf(`${repo} own layer`, 5000);
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(shared), sha256(own)] }, repo }));
        const image = imageOf(config, [shared, own]);
        images.set(repo, image);
        await pushImage(seed.url, repo, 'v1', image);
      }
      await pushBlobsOf(seed.url, 'gc/a1', untagged);
      const byDigest = await putManifest(seed.url, 'gc/a1', untagged.digest, untagged.manifest);
      assert.equal(byDigest.status, 201);
      await seed.server.close();
    }
    // gc/a0 is swept first (repositories go in byte order): most of the junk is there, so the kill lands in it.
    await addJunk(storage, 'gc/a0', 4000, 'a0');
    for (const repo of repos.slice(1)) await addJunk(storage, repo, 300, repo);
    const a0 = join(storage, 'gc', 'a0', 'blobs', 'sha256');
    const initial = (await fsp.readdir(a0)).length;

    const gc = startCli(t, ['registry', 'gc', '--storage', storage, '--grace', '0s', '--json']);
    let killedMidRun = false;
    await waitFor(async () => {
      if (gc.child.exitCode !== null) return true;
      const n = (await fsp.readdir(a0)).length;
      if (n < initial) {
        gc.child.kill('SIGKILL');
        killedMidRun = true;
        return true;
      }
      return false;
    }, 20_000, 1);
    const first = await gc.done;
    const left = (await fsp.readdir(a0)).length;
    assert.ok(killedMidRun && first.signal === 'SIGKILL', `gc was not killed mid-run (exit ${first.code}): ${first.stderr}`);
    t.diagnostic(`gc killed with ${left} of ${initial} files left in gc/a0`);
    assert.ok(left > 3, 'gc had already swept gc/a0');

    for (const file of await findAll(storage, 'index.json')) {
      JSON.parse(await fsp.readFile(file, 'utf8'));
    }
    const locks = (await findAll(storage, 'index.json.lock')).map((p) => p.slice(storage.length + 1));

    const srv = await spawnServe(t, storage);
    for (const repo of repos) await pullVerify(srv.url, repo, 'v1');
    await pullVerify(srv.url, 'gc/a1', untagged.digest);

    // A second gc and a push to the repository the first was sweeping: both must complete (promptly).
    const after = makeImage('after the crash');
    const push = (async () => {
      try {
        await pushImage(srv.url, 'gc/a0', 'v2', after);
        return 'pushed';
      } catch (err) {
        return `failed: ${(err as Error).message}`;
      }
    })();
    const [pushed, second] = await Promise.all([
      Promise.race([push, sleep(6000).then(() => 'still waiting after 6 s')]),
      runCli(t, ['registry', 'gc', '--storage', storage, '--grace', '0s', '--json'], 6000).catch((err: Error) => err),
    ]);
    const lockNote = locks.length ? ` (left behind by the killed gc: ${locks.join(', ')})` : '';
    const gcOutcome = second instanceof Error ? second.message.split('\n')[0] : `exit ${second.code}`;
    assert.ok(
      !(second instanceof Error) && second.code === 0 && pushed === 'pushed',
      `after the killed gc — second gc: ${gcOutcome}; push to gc/a0: ${pushed}${lockNote}`,
    );
    assert.equal(second.code, 0, `the second gc failed: ${second.stderr}${lockNote}`);
    const report = JSON.parse(second.stdout) as { skipped: string[] };
    assert.deepEqual(report.skipped, []);
    assert.equal(pushed, 'pushed', `a push to gc/a0 after the crash${lockNote}`);
    for (const repo of repos) await pullVerify(srv.url, repo, 'v1');
    await pullVerify(srv.url, 'gc/a1', untagged.digest);
    await pullVerify(srv.url, 'gc/a0', 'v2');
    const v1 = images.get('gc/a0')!;
    const wanted = [...v1.blobs, v1.digest, ...after.blobs, after.digest].map((d) => d.slice('sha256:'.length)).sort();
    assert.deepEqual((await fsp.readdir(a0)).sort(), wanted, 'the second gc left junk in gc/a0, or removed more');
  });

  test('GC concurrent with a push: with --grace 1h the push completes and pulls; with --grace 0s the manifest PUT fails MANIFEST_BLOB_UNKNOWN, never stores a dangling manifest', async (t) => {
    const storage = await storageDir(t, 'wharf-crash-gcpush-');
    const srv = await spawnServe(t, storage);
    const repo = 'push/app';

    // --grace 1h: gc starts while the client pushes blobs; the client pauses, gc ends, then the manifest.
    const one = makeImage('grace 1h', [50_000, 70_000]);
    const gcGrace = startCli(t, ['registry', 'gc', '--storage', storage, '--grace', '1h', '--json']);
    await pushBlobsOf(srv.url, repo, one);
    const graceRun = await gcGrace.done;
    assert.equal(graceRun.code, 0, graceRun.stderr);
    await sleep(100);
    const again = await runCli(t, ['registry', 'gc', '--storage', storage, '--grace', '1h', '--json']);
    assert.equal(again.code, 0, again.stderr);
    const keptYoung = (JSON.parse(again.stdout) as { keptYoung: number }).keptYoung;
    assert.ok(keptYoung >= one.blobs.length, `the young blobs were not kept for their grace: ${again.stdout}`);
    const put1 = await putManifest(srv.url, repo, 'v1', one.manifest);
    assert.equal(put1.status, 201, await put1.text());
    await pullVerify(srv.url, repo, 'v1');

    // --grace 0s: nothing is young, so GC takes the blobs of an image whose manifest is not pushed yet for
    // garbage (nothing references them) and removes them: the repository's links, then the shared bytes. The
    // push in flight then cannot complete: its manifest PUT finds the blobs missing and is refused with
    // MANIFEST_BLOB_UNKNOWN (the client must push the blobs again). It never succeeds naming a missing blob.
    // An upload session that is still open is not touched by --grace 0s (sessions expire by uploadExpiry).
    const two = makeImage('grace 0s', [60_000]);
    await pushBlobsOf(srv.url, repo, two);
    const open = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const openLocation = new URL(open.headers.get('location')!, srv.url);
    const part = bytesOf('open upload', 10_000);
    const patched = await fetch(openLocation, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${part.length - 1}` }, body: part });
    assert.equal(patched.status, 202);
    const zero = await runCli(t, ['registry', 'gc', '--storage', storage, '--grace', '0s', '--json']);
    assert.equal(zero.code, 0, zero.stderr);
    const removed = (JSON.parse(zero.stdout) as { blobs: { digest: string }[] }).blobs.map((b) => b.digest).sort();
    assert.deepEqual(removed, [...two.blobs].sort(), 'gc --grace 0s removes exactly the blobs no manifest names yet');
    const put2 = await putManifest(srv.url, repo, 'v2', two.manifest);
    assert.equal(put2.status, 400);
    assert.equal(errorCode(Buffer.from(await put2.arrayBuffer())), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/v2`)).status, 404);
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/${two.digest}`)).status, 404);
    const tags = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
    await pullVerify(srv.url, repo, 'v1');
    // The open session survived, and finishes.
    const finished = await fetch(`${openLocation.href}?digest=${sha256(part)}`, { method: 'PUT' });
    assert.equal(finished.status, 201, await finished.text());
    // Pushing the blobs again completes the interrupted push.
    await pushImage(srv.url, repo, 'v2', two);
    await pullVerify(srv.url, repo, 'v2');
  });

  test('a manifest that references a blob GC removed in between is refused with MANIFEST_BLOB_UNKNOWN, never stored dangling (PUT racing GC, 25 rounds)', async (t) => {
    const storage = await storageDir(t, 'wharf-crash-race-');
    const srv = await spawnServe(t, storage);
    const repo = 'race/app';
    const gcStore = await RegistryStore.open(storage);
    const gc = () => collectGarbage(gcStore, { graceMs: 0, uploadExpiryMs: 7 * 24 * 3600 * 1000 });
    // First, in order: the blobs, GC, then the manifest.
    const first = makeImage('race first');
    await pushBlobsOf(srv.url, repo, first);
    await gc();
    const refused = await putManifest(srv.url, repo, 'first', first.manifest);
    assert.equal(refused.status, 400);
    assert.equal(errorCode(Buffer.from(await refused.arrayBuffer())), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/first`)).status, 404);
    // Then racing: the manifest PUT and a GC at the same moment, again and again.
    const outcomes = { stored: 0, refused: 0 };
    for (let round = 0; round < 25; round++) {
      const image = makeImage(`race ${round}`, [2000 + round, 3000]);
      await pushBlobsOf(srv.url, repo, image);
      // Alternate which side starts late (0-6 ms), so that both orders (and the overlap) happen.
      const delay = (round >> 1) % 7;
      const [put] = await Promise.all([
        (async () => {
          if (round % 2 === 0) await sleep(delay);
          return putManifest(srv.url, repo, `r${round}`, image.manifest);
        })(),
        (async () => {
          if (round % 2 === 1) await sleep(delay + 2);
          return gc();
        })(),
      ]);
      const body = Buffer.from(await put.arrayBuffer());
      if (put.status === 201) {
        outcomes.stored++;
        await pullVerify(srv.url, repo, `r${round}`);
      } else {
        outcomes.refused++;
        assert.equal(put.status, 400, body.toString());
        assert.equal(errorCode(body), 'MANIFEST_BLOB_UNKNOWN', body.toString());
        assert.equal((await fetch(`${srv.url}/v2/${repo}/manifests/r${round}`)).status, 404, `round ${round}: refused, yet stored`);
      }
    }
    t.diagnostic(`25 rounds: ${outcomes.stored} manifests stored before GC, ${outcomes.refused} refused after it`);
    // Whatever happened, every tag there pulls completely, even after one more GC.
    await gc();
    const tags = (await (await fetch(`${srv.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    assert.equal(tags.tags.length, outcomes.stored);
    for (const tag of tags.tags) await pullVerify(srv.url, repo, tag);
    const index = JSON.parse(await fsp.readFile(join(storage, 'race', 'app', 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] };
    for (const m of index.manifests) {
      assert.equal(m.mediaType, OCI_MANIFEST);
      await pullVerify(srv.url, repo, m.digest);
    }
  });
});
