import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WharfError } from '../src/errors.js';
import { DockerReference, parseDockerReference, printable, validateTag } from '../src/reference/index.js';

const HEX = 'a1b2c3d4'.repeat(8);
const DIGEST = `sha256:${HEX}`;

function parts(input: string): { domain: string; path: string; tag?: string; digest?: string; str: string; familiar: string } {
  const r = parseDockerReference(input);
  return {
    domain: r.domain,
    path: r.path,
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
    ...(r.digest !== undefined ? { digest: r.digest } : {}),
    str: r.toString(),
    familiar: r.familiar(),
  };
}

/** Assert that parsing fails with INVALID_REFERENCE and a message matching `names`; return the error. */
function rejects(input: string, names: RegExp): WharfError {
  let caught: unknown;
  try {
    parseDockerReference(input);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof WharfError, `"${printable(input, 60)}" should be refused`);
  assert.equal(caught.code, 'INVALID_REFERENCE');
  assert.match(caught.message, names);
  assert.ok(caught.hint, 'every refusal says what to do');
  // Messages go to a terminal: no raw control, bidi or line-separator characters, and bounded in size.
  assert.doesNotMatch(caught.message, /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  assert.ok(caught.message.length < 600, `message is ${caught.message.length} characters`);
  return caught;
}

test('normalisation of short and legacy names', () => {
  assert.deepEqual(parts('busybox'), { domain: 'docker.io', path: 'library/busybox', str: 'docker.io/library/busybox', familiar: 'busybox' });
  assert.deepEqual(parts('busybox:1.36'), {
    domain: 'docker.io',
    path: 'library/busybox',
    tag: '1.36',
    str: 'docker.io/library/busybox:1.36',
    familiar: 'busybox:1.36',
  });
  assert.deepEqual(parts('library/busybox'), parts('busybox'));
  assert.deepEqual(parts('docker.io/library/busybox'), parts('busybox'));
  assert.deepEqual(parts('docker.io/busybox'), parts('busybox'));
  assert.deepEqual(parts('index.docker.io/busybox'), parts('busybox'));
  assert.deepEqual(parts('index.docker.io/x/y'), { domain: 'docker.io', path: 'x/y', str: 'docker.io/x/y', familiar: 'x/y' });
  assert.deepEqual(parts('x/y'), parts('index.docker.io/x/y'));
  // A deeper path under library/ is not an official image: familiar keeps the prefix, as docker does.
  assert.equal(parseDockerReference('docker.io/library/a/b').familiar(), 'library/a/b');
});

test('registries with ports, localhost and IPv6', () => {
  assert.deepEqual(parts('localhost:5000/a/b:t'), {
    domain: 'localhost:5000',
    path: 'a/b',
    tag: 't',
    str: 'localhost:5000/a/b:t',
    familiar: 'localhost:5000/a/b:t',
  });
  assert.deepEqual(parts('localhost/a'), { domain: 'localhost', path: 'a', str: 'localhost/a', familiar: 'localhost/a' });
  assert.deepEqual(parts('[::1]:5000/a'), { domain: '[::1]:5000', path: 'a', str: '[::1]:5000/a', familiar: '[::1]:5000/a' });
  assert.deepEqual(parts('[fe80::1]/a/b:v1'), { domain: '[fe80::1]', path: 'a/b', tag: 'v1', str: '[fe80::1]/a/b:v1', familiar: '[fe80::1]/a/b:v1' });
  assert.deepEqual(parts(`registry.example.com:443/a/b@${DIGEST}`), {
    domain: 'registry.example.com:443',
    path: 'a/b',
    digest: DIGEST,
    str: `registry.example.com:443/a/b@${DIGEST}`,
    familiar: `registry.example.com:443/a/b@${DIGEST}`,
  });
  // A first component with uppercase letters is a host, as in distribution/reference.
  assert.equal(parseDockerReference('Example/app').domain, 'Example');
  // A first component without '.', ':' or localhost is a docker.io namespace.
  assert.equal(parseDockerReference('myorg/app').domain, 'docker.io');
  // A colon with no slash after it is a tag, not a port.
  assert.deepEqual(parts('localhost:5000'), {
    domain: 'docker.io',
    path: 'library/localhost',
    tag: '5000',
    str: 'docker.io/library/localhost:5000',
    familiar: 'localhost:5000',
  });
});

test('tag and digest together; sha512 digests', () => {
  const r = parseDockerReference(`busybox:1.36@${DIGEST}`);
  assert.equal(r.tag, '1.36');
  assert.equal(r.digest, DIGEST);
  assert.equal(r.toString(), `docker.io/library/busybox:1.36@${DIGEST}`);
  assert.equal(r.familiar(), `busybox:1.36@${DIGEST}`);
  assert.equal(r.name(), 'docker.io/library/busybox');
  const d512 = `sha512:${'e'.repeat(128)}`;
  assert.equal(parseDockerReference(`quay.io/a/b@${d512}`).digest, d512);
  assert.equal(parseDockerReference(`localhost:5000/a:t@${DIGEST}`).toString(), `localhost:5000/a:t@${DIGEST}`);
});

test('toString round-trips through the parser', () => {
  for (const input of ['busybox', 'x/y:z', 'localhost:5000/a/b:t', '[::1]:5000/a', `quay.io/a/b:c@${DIGEST}`, 'ab/c-d__e.f_g:H.i-J']) {
    const once = parseDockerReference(input);
    assert.equal(parseDockerReference(once.toString()).toString(), once.toString());
    assert.equal(parseDockerReference(once.familiar()).toString(), once.toString());
  }
});

test('withTag, tagNameOnly and validateTag', () => {
  const r = parseDockerReference('busybox');
  assert.equal(r.tagNameOnly().toString(), 'docker.io/library/busybox:latest');
  assert.equal(r.withTag('1.0').toString(), 'docker.io/library/busybox:1.0');
  const pinned = parseDockerReference(`busybox@${DIGEST}`);
  assert.equal(pinned.tagNameOnly(), pinned);
  assert.ok(r instanceof DockerReference);
  assert.equal(validateTag('v1.2.3_rc-1'), 'v1.2.3_rc-1');
  assert.equal(validateTag('x'.repeat(128)).length, 128);
  for (const bad of ['', '.x', '-x', 'x'.repeat(129), 'a/b', 'a:b', 'tag\x1b[2J']) {
    assert.throws(
      () => r.withTag(bad),
      (e: WharfError) => e.code === 'INVALID_REFERENCE' && !/[\x00-\x1f]/.test(e.message) && !!e.hint,
      JSON.stringify(bad),
    );
  }
});

test('path component grammar: separators', () => {
  for (const ok of ['a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'a/b/c/d/e', '0/1']) {
    assert.doesNotThrow(() => parseDockerReference(`example.com/${ok}`), ok);
  }
  for (const bad of ['a..b', 'a___b', '_a', 'a_', '-a', 'a-', '.a', 'a.', 'a._b']) rejects(`example.com/${bad}`, /repository path/);
});

test('uppercase repository names are refused, naming the repository', () => {
  rejects('Busybox', /repository "library\/Busybox" must be lowercase/);
  rejects('example.com/Foo/bar:tag', /repository "Foo\/bar" must be lowercase/);
  rejects('docker.io/MyOrg/app', /must be lowercase/);
});

test('bad tags are refused, naming the tag', () => {
  const long = 'x'.repeat(129);
  const e = rejects(`busybox:${long}`, /the tag "x+\.\.\." is 129 characters long/);
  assert.match(e.hint!, /1 to 128/);
  assert.doesNotThrow(() => parseDockerReference(`busybox:${'x'.repeat(128)}`));
  rejects('busybox:.hidden', /the tag "\.hidden" is not valid/);
  rejects('busybox:-dash', /the tag "-dash" is not valid/);
  rejects('busybox:', /the tag "" is empty/);
  rejects('busybox:a+b', /the tag "a\+b"/);
  rejects('a:b:c', /repository path "library\/a:b"/);
});

test('bad digests are refused, naming the digest', () => {
  rejects('busybox@sha256:abc', /the digest "sha256:abc" is not valid/);
  rejects(`busybox@sha256:${HEX.toUpperCase()}`, /the digest "sha256:A1B2/);
  rejects(`busybox@md5:${'a'.repeat(32)}`, /the digest "md5:a+" is not valid/);
  rejects('busybox@', /the digest "" is not valid/);
  rejects(`busybox@${DIGEST}@${DIGEST}`, /the digest "sha256:a1b2[^"]*@sha25/);
  rejects(`busybox@${HEX}`, /the digest "a1b2/);
  rejects('user@host/repo', /the digest "host\/repo"/);
});

test('empty, blank and structurally broken names', () => {
  rejects('', /it is empty/);
  rejects(':tag', /repository name is empty/);
  rejects(`@${DIGEST}`, /repository name is empty/);
  rejects(':tag@' + DIGEST, /repository name is empty/);
  rejects('a//b', /repository path "a\/\/b" is not valid/);
  rejects('example.com//b', /repository path "\/b" is not valid/);
  rejects('a/', /repository path "a\/" is not valid/);
  rejects('example.com/', /repository path after "example\.com\/" is empty/);
  rejects('example.com/a/', /repository path "a\/" is not valid/);
  rejects('/a', /repository path "\/a" is not valid/);
  rejects('example.com:port/a', /registry "example\.com:port" is not a valid host\[:port\]/);
  rejects('exa_mple.com/a', /registry "exa_mple\.com"/);
  rejects('::1/a', /registry "::1"/);
  rejects('-bad.com/a', /registry "-bad\.com"/);
});

test('a 64-character hex string is an image ID, not a name', () => {
  rejects(HEX, /64-character hexadecimal string is an image ID/);
  // With a registry in front it is a (strange but) valid path.
  assert.equal(parseDockerReference(`example.com/${HEX}`).path, HEX);
  assert.doesNotThrow(() => parseDockerReference(HEX.slice(0, 63)));
});

test('over-long names are refused, saying how long', () => {
  const path = 'a'.repeat(250);
  rejects(`example.com/${path}`, /repository name is 262 characters long, more than 255/);
  // The limit applies to the normalised name: docker.io/library/ counts.
  const short = 'b'.repeat(240);
  rejects(short, /repository name is 258 characters long/);
  assert.doesNotThrow(() => parseDockerReference(`example.com/${'c'.repeat(243)}`)); // exactly 255
  rejects(`example.com/${'c'.repeat(244)}`, /256 characters long/);
});

test('whitespace and control characters are refused, with position, and never echoed raw', () => {
  rejects(' busybox', /control character \(" " at position 0\)/);
  rejects('busybox ', /at position 7/);
  rejects('busy\tbox', /"\\x09" at position 4/);
  rejects('busybox\n', /"\\x0a" at position 7/);
  rejects('busybox\r:latest', /"\\x0d"/);
  rejects('a\x1b[31mred', /"\\x1b" at position 1/);
  rejects('a\x7fb', /"\\x7f"/);
  rejects('a\u0085b', /"\\x85"/);
  rejects('a\u00a0b', /"\\xa0"/);
  rejects('a\u2028b', /"\\u2028"/);
  rejects('a\u3000b', /"\\u3000"/);
  const nul = rejects('busybox\0:latest', /"\\x00" at position 7/);
  assert.ok(!nul.message.includes('\0'));
  rejects('\0', /\\x00/);
});

test('non-ASCII input (emoji, bidi overrides, zero-width) is refused and shown escaped or as is', () => {
  rejects('busybox😀', /repository path "library\/busybox😀" is not valid/);
  rejects('busybox:v😀', /the tag "v😀" is not valid/);
  rejects('😀.example.com/a', /registry "😀\.example\.com"/);
  rejects('bad\u202eexe.moc/x', /\\u202e/);
  rejects('a\u200bb', /"library\/a\\u200bb"/);
  rejects('caf\u00e9', /repository path "library\/café"/);
  rejects('a\ud800b', /\\ud800/); // a lone surrogate
  rejects('\ufeffbusybox', /\\ufeff/);
  // Full-width characters that look like ASCII are not ASCII.
  rejects('ｂｕｓｙｂｏｘ', /repository path/);
});

test('hostile sizes are refused quickly', () => {
  const start = process.hrtime.bigint();
  rejects('a'.repeat(1 << 20), /it is 1048576 characters long, more than 4096/);
  rejects(`${'a'.repeat(1 << 20)}\0`, /characters long/);
  // Just under the input cap, shaped to make a backtracking regex work hard.
  rejects(`${'a-'.repeat(2000)}!`, /repository path/);
  rejects(`${'a.'.repeat(2000)}a:1/x`, /registry|repository|characters long/);
  rejects(`${'a'.repeat(4000)}/b`, /repository name is \d+ characters long/);
  rejects(`x/${'a__'.repeat(1300)}_`, /repository path/);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms < 500, `took ${ms} ms`);
});

test('non-string input is refused, not crashed on', () => {
  for (const bad of [undefined, null, 42, {}, ['busybox']]) {
    assert.throws(
      () => parseDockerReference(bad as unknown as string),
      (e: WharfError) => e.code === 'INVALID_REFERENCE' && /not a string/.test(e.message),
    );
  }
});

test('allowShortName: false demands a registry', () => {
  const e = (() => {
    try {
      parseDockerReference('busybox', { allowShortName: false });
    } catch (err) {
      return err as WharfError;
    }
    return undefined;
  })();
  assert.equal(e?.code, 'INVALID_REFERENCE');
  assert.match(e!.message, /does not name a registry/);
  assert.equal(parseDockerReference('docker.io/library/busybox', { allowShortName: false }).familiar(), 'busybox');
  assert.equal(parseDockerReference('localhost/a', { allowShortName: false }).domain, 'localhost');
});

test('printable escapes and clips by character, never splitting a pair', () => {
  assert.equal(printable('plain'), 'plain');
  assert.equal(printable('a\x1bb\u202ec'), 'a\\x1bb\\u202ec');
  assert.equal(printable('😀'.repeat(10), 5), '😀😀...');
  assert.equal(printable('abcde', 5), 'abcde');
  assert.equal(printable('abcdef', 5), 'ab...');
});
