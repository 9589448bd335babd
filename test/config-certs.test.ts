import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { certDirCandidates, loadTlsConfig } from '../src/config/index.js';
import { WharfError } from '../src/errors.js';

// Throwaway self-signed EC certificates made for these tests only (CN=wharf-test-a / wharf-test-b).
const CERT_A = `-----BEGIN CERTIFICATE-----
MIIBhDCCASugAwIBAgIUPZynsSMaqYOfiVssp1oAx6J5USEwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMd2hhcmYtdGVzdC1hMCAXDTI2MTEyMzE4NDgwNloYDzIxMjYx
MDMwMTg0ODA2WjAXMRUwEwYDVQQDDAx3aGFyZi10ZXN0LWEwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQ8u+wH5wwP0msqHvb9ma7hh2iK0oRYTNXsMHirsFSLpIZi
mErc1CS8Zm5ufeIpE9HGe0t2xsdRFdZIlY+j8XU/o1MwUTAdBgNVHQ4EFgQUUdIa
BuCL9xEDQf78vIQIdLr3BxIwHwYDVR0jBBgwFoAUUdIaBuCL9xEDQf78vIQIdLr3
BxIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBI1+AgkS/wY588
ogyjPVqbbXuXLl5cKRY555DqIWCy9wIgff0GwOuNK2ocUyc4NZCG8zjZv2Hxj1pR
fRmrlqHweHI=
-----END CERTIFICATE-----
`;
const KEY_A = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBABKEVniRT2yIlEH
5yLy1y+QvBntmCOcs6wfmPaL9qShRANCAAQ8u+wH5wwP0msqHvb9ma7hh2iK0oRY
TNXsMHirsFSLpIZimErc1CS8Zm5ufeIpE9HGe0t2xsdRFdZIlY+j8XU/
-----END PRIVATE KEY-----
`;
const CERT_B = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUPnKRLKqa6fhmNUE6Wr+xObh+I60wCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMd2hhcmYtdGVzdC1iMCAXDTI2MTEyMzE4NDgwNloYDzIxMjYx
MDMwMTg0ODA2WjAXMRUwEwYDVQQDDAx3aGFyZi10ZXN0LWIwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQ1j1cm+4H0zBeyac+QBN7wVK9EnNlILtkQu2vvP/JAZkdd
HO4BgYKW6LBcp/cmMvJepembWymAcnamOmfBRZvEo1MwUTAdBgNVHQ4EFgQUuP/9
rRZY/NyPmlBYMOLDuoguQgowHwYDVR0jBBgwFoAUuP/9rRZY/NyPmlBYMOLDuogu
QgowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBUcjmPCJtH7sno
aliDPIhE8RhsfHw/HP4fSAE8KHPmOQIhAI8UJOMUfUUAcb3taBu9hklvYM44NgrZ
WqVLofQ2irzb
-----END CERTIFICATE-----
`;

let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'wharf-certs-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = join(root, `d${n++}`, 'registry.example.com:5000');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

function certsError(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WharfError, String(err));
    assert.equal(err.code, 'CERTS_INVALID');
    assert.match(err.message, re);
    return true;
  };
}

describe('certDirCandidates', () => {
  test('per-user, then /etc/containers, then /etc/docker', () => {
    assert.deepEqual(certDirCandidates('registry.example.com:5000', { HOME: '/home/u' }), [
      '/home/u/.config/containers/certs.d/registry.example.com:5000',
      '/etc/containers/certs.d/registry.example.com:5000',
      '/etc/docker/certs.d/registry.example.com:5000',
    ]);
  });
  test('without HOME the system directories only', () => {
    assert.deepEqual(certDirCandidates('localhost:5000'), [
      '/etc/containers/certs.d/localhost:5000',
      '/etc/docker/certs.d/localhost:5000',
    ]);
  });
  test('--cert-dir replaces them all', () => {
    assert.deepEqual(certDirCandidates('x.io', { explicitCertDir: '/certs', HOME: '/home/u' }), ['/certs']);
  });
  test('a host:port that would escape the directory is refused', () => {
    for (const bad of ['../../etc', 'a/b', '..', '', 'host name']) {
      assert.throws(() => certDirCandidates(bad, { HOME: '/home/u' }), (e: unknown) => e instanceof WharfError && e.code === 'USAGE', bad);
    }
  });
});

describe('loadTlsConfig', () => {
  test('*.crt are CAs, NAME.cert + NAME.key the client pair, other files ignored', async () => {
    const dir = await dirWith({ 'ca.crt': CERT_A, 'other-ca.crt': CERT_B, 'client.cert': CERT_A, 'client.key': KEY_A, 'README': 'hello' });
    const tls = await loadTlsConfig([dir]);
    assert.equal(tls.dir, dir);
    assert.deepEqual(tls.ca.map((b) => b.toString()), [CERT_A, CERT_B]);
    assert.equal(tls.cert?.toString(), CERT_A);
    assert.equal(tls.key?.toString(), KEY_A);
  });

  test('missing directories are fine', async () => {
    assert.deepEqual(await loadTlsConfig([join(root, 'nope'), join(root, 'nope2')]), { ca: [] });
    assert.deepEqual(await loadTlsConfig([]), { ca: [] });
  });

  test('only the first directory that exists is used, as containers/image does', async () => {
    const first = await dirWith({ 'a.crt': CERT_A });
    const second = await dirWith({ 'b.crt': CERT_B, 'client.cert': CERT_A, 'client.key': KEY_A });
    const tls = await loadTlsConfig([join(root, 'missing'), first, second]);
    assert.equal(tls.dir, first);
    assert.deepEqual(tls.ca.map((b) => b.toString()), [CERT_A]);
    assert.equal(tls.cert, undefined);
  });

  test('an empty directory yields nothing', async () => {
    const dir = await dirWith({});
    assert.deepEqual(await loadTlsConfig([dir]), { ca: [], dir });
  });

  test('a .cert without its .key is an error naming both files', async () => {
    const dir = await dirWith({ 'client.cert': CERT_A });
    await assert.rejects(loadTlsConfig([dir]), certsError(/client\.cert.*client\.key/));
  });

  test('a .key without its .cert is an error naming both files', async () => {
    const dir = await dirWith({ 'client.key': KEY_A });
    await assert.rejects(loadTlsConfig([dir]), certsError(/client\.key.*client\.cert/));
  });

  test('a key that does not belong to the certificate is an error', async () => {
    const dir = await dirWith({ 'client.cert': CERT_B, 'client.key': KEY_A });
    await assert.rejects(loadTlsConfig([dir]), certsError(/client\.key is not the key of the certificate in client\.cert/));
  });

  test('a key that is not a key is an error that does not quote it', async () => {
    const dir = await dirWith({ 'client.cert': CERT_A, 'client.key': 'SECRET-NOT-A-KEY' });
    await assert.rejects(loadTlsConfig([dir]), (err: unknown) => {
      assert.ok(err instanceof WharfError && err.code === 'CERTS_INVALID');
      assert.ok(!String(err.stack).includes('SECRET-NOT-A-KEY'));
      assert.ok(!String(err.hint).includes('SECRET-NOT-A-KEY'));
      return true;
    });
  });

  test('a .crt without a PEM certificate is an error', async () => {
    const dir = await dirWith({ 'ca.crt': 'garbage' });
    await assert.rejects(loadTlsConfig([dir]), certsError(/ca\.crt holds no PEM certificate/));
  });

  test('a dangling symlink and a directory named *.crt are skipped', async () => {
    const dir = await dirWith({ 'ca.crt': CERT_A });
    await symlink(join(root, 'does-not-exist'), join(dir, 'dangling.crt'));
    await mkdir(join(dir, 'sub.crt'));
    const tls = await loadTlsConfig([dir]);
    assert.equal(tls.ca.length, 1);
  });

  test('an oversized certificate file is refused', async () => {
    const dir = await dirWith({ 'big.crt': `-----BEGIN CERTIFICATE-----\n${'A'.repeat(2 << 20)}` });
    await assert.rejects(loadTlsConfig([dir]), (e: unknown) => e instanceof WharfError && e.code === 'TOO_LARGE');
  });
});
