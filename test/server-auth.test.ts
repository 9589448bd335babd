/**
 * src/server/auth: htpasswd users (with hashes made by Apache's own htpasswd), the access policy and its globs,
 * scopes, HS256 tokens under tampering, the token endpoint and the Authorization header under hostile input.
 * bcrypt fixtures use cost 4-6 so the whole file stays fast; timings are only printed, never asserted.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import bcrypt from 'bcryptjs';
import { WharfError } from '../src/errors.js';
import {
  AccessPolicy,
  CLOCK_SKEW_SECONDS,
  MAX_SCOPES,
  PasswordFile,
  basicChallenge,
  bearerChallenge,
  formatScope,
  issueToken,
  matchRepository,
  parseAuthorization,
  parseHtpasswd,
  parseScope,
  parseScopes,
  signToken,
  validateAccessRules,
  validateGroups,
  verifyToken,
  type AccessRule,
  type PasswordFileOptions,
  type TokenClaims,
  type TokenDeps,
  type VerifyExpectation,
} from '../src/server/auth/index.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

// ---------------------------------------------------------------------------------------------------------
// helpers

/** `user:hash` exactly as `htpasswd -nb<flags>` prints it. */
async function htpasswdLine(flags: string[], user: string, password: string): Promise<string> {
  const out = await runPeer('htpasswd', ['-nb', ...flags, user, password]);
  return out.trim();
}

const bcryptLine = (user: string, password: string, cost = 4): string => `${user}:${bcrypt.hashSync(password, cost)}`;

function expectCode(fn: () => unknown, code: string): WharfError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WharfError, `expected a WharfError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    assert.ok(err.hint, 'every WharfError has a hint');
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

async function expectCodeAsync(p: Promise<unknown>, code: string): Promise<WharfError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WharfError, `expected a WharfError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    assert.ok(err.hint, 'every WharfError has a hint');
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** A clock tests move by hand. */
function fakeClock(start = Date.UTC(2024, 0, 15, 12, 0, 0)) {
  const c = { t: start, now: () => c.t, advance: (ms: number) => void (c.t += ms) };
  return c;
}

/** Replace a file the way editors and config tools do (new inode), so the change is visible whatever the mtime granularity. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

async function passwordFile(t: TestContext, lines: string[], options: PasswordFileOptions = {}) {
  const dir = await tempDir(t, 'wharf-auth-');
  const path = join(dir, 'htpasswd');
  await writeFile(path, lines.join('\n') + '\n');
  const clock = fakeClock();
  const warnings: string[] = [];
  const file = await PasswordFile.load(path, { now: clock.now, onWarning: (w) => warnings.push(w), ...options });
  return { path, clock, warnings, file };
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const b64url = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// ---------------------------------------------------------------------------------------------------------
// htpasswd

describe('htpasswd', () => {
  test('verifies the bcrypt hashes Apache htpasswd -B writes ($2y$)', async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const alice = await htpasswdLine(['-B', '-C', '4'], 'alice', 'secret');
    const bob = await htpasswdLine(['-B', '-C', '5'], 'bob', 'pa:ss wörd');
    assert.match(alice, /^alice:\$2y\$04\$/);
    // Comments, blank lines, CRLF line ends and surrounding blanks are all what hand-edited files have.
    const { file, warnings } = await passwordFile(t, ['# users of the test registry', '', `  ${alice}\r`, '\t', bob]);
    assert.deepEqual(warnings, []);
    assert.deepEqual(file.users(), ['alice', 'bob']);
    assert.equal(await file.verify('alice', 'secret'), true);
    assert.equal(await file.verify('alice', 'Secret'), false);
    assert.equal(await file.verify('alice', ''), false);
    assert.equal(await file.verify('bob', 'pa:ss wörd'), true);
    assert.equal(await file.verify('bob', 'secret'), false);
    assert.equal(await file.verify('mallory', 'secret'), false);
    assert.equal(await file.verify('Alice', 'secret'), false, 'user names are case-sensitive');
  });

  test('accepts $2a$ and $2b$ hashes too', async (t) => {
    const hash = bcrypt.hashSync('hunter2', 4); // bcryptjs writes $2b$
    assert.match(hash, /^\$2b\$/);
    const { file } = await passwordFile(t, [`b:${hash}`, `a:${hash.replace(/^\$2b\$/, '$2a$')}`]);
    assert.equal(await file.verify('a', 'hunter2'), true);
    assert.equal(await file.verify('b', 'hunter2'), true);
    assert.equal(await file.verify('b', 'hunter3'), false);
  });

  test('skips every other format with a warning naming line and user but no part of the hash', async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const formats: Array<[string[], string]> = [
      [['-s'], 'sha1'],
      [['-m'], 'md5'],
      [['-d'], 'crypt'],
      [['-2'], 'sha256'],
      [['-5'], 'sha512'],
    ];
    const lines: string[] = [await htpasswdLine(['-B', '-C', '4'], 'good', 'pw')];
    for (const [flags, user] of formats) lines.push(await htpasswdLine(flags, user, 'Tr0ub4dor&3'));
    lines.push('plain:Tr0ub4dor&3');
    const { entries, warnings } = parseHtpasswd(lines.join('\n'), '/etc/wharf/htpasswd');
    assert.deepEqual([...entries.keys()], ['good']);
    assert.equal(warnings.length, 6);
    const users = ['sha1', 'md5', 'crypt', 'sha256', 'sha512', 'plain'];
    users.forEach((user, i) => {
      assert.ok(warnings[i]!.startsWith(`/etc/wharf/htpasswd:${i + 2}: user "${user}"`), warnings[i]);
      assert.match(warnings[i]!, /only bcrypt/);
    });
    const all = warnings.join('\n');
    for (const line of lines.slice(1)) {
      const hash = line.slice(line.indexOf(':') + 1);
      // Not the hash, nor any 6-character run of it past the format marker (salt and digest are secret-ish).
      const body = hash.replace(/^(\{SHA\}|\$apr1\$|\$[0-9]\$)/, '');
      for (let k = 0; k + 6 <= body.length; k++) {
        assert.ok(!all.includes(body.slice(k, k + 6)), `a warning quotes part of the hash of ${line.split(':')[0]}`);
      }
    }
    assert.ok(!all.includes('Tr0ub4dor'), 'the plain-text password is never echoed');
  });

  test('malformed lines are warnings; comments, BOM and blank lines are ignored', () => {
    const good = bcrypt.hashSync('pw', 4);
    const text = [
      `\ufeffalice:${good}`, // 1: a BOM before the first user
      'justapasswordpastedin', // 2: no colon
      `:${good}`, // 3: empty user
      `eve\u0001:${good}`, // 4: control character
      `dan:${good}\u0000`, // 5: NUL after the hash
      `long:${good}${'x'.repeat(5000)}`, // 6: absurdly long
      '   # an indented comment', // 7
      `carol:${good}`, // 8
      `alice:${good}`, // 9: again
    ].join('\n');
    const { entries, warnings } = parseHtpasswd(text, 'pw');
    assert.deepEqual([...entries.keys()].sort(), ['alice', 'carol']);
    assert.deepEqual(
      warnings.map((w) => w.split(':').slice(0, 2).join(':')),
      ['pw:2', 'pw:3', 'pw:4', 'pw:5', 'pw:6', 'pw:9'],
    );
    assert.ok(!warnings.join('\n').includes('justapassword'), 'a line without a colon may be a password: never quoted');
    assert.ok(!warnings.join('\n').includes(good.slice(7)), 'no hash in warnings');
    assert.match(warnings[5]!, /listed again/);
  });

  test('a file over 16 MiB is refused, and so is a missing one', async (t) => {
    const dir = await tempDir(t, 'wharf-auth-');
    const big = join(dir, 'big');
    await writeFile(big, Buffer.alloc(16 * 1024 * 1024 + 1, 0x61));
    await expectCodeAsync(PasswordFile.load(big), 'TOO_LARGE');
    expectCode(() => parseHtpasswd('a'.repeat(16 * 1024 * 1024 + 1), 'x'), 'TOO_LARGE');
    const missing = await expectCodeAsync(PasswordFile.load(join(dir, 'nope')), 'SERVER_CONFIG_INVALID');
    assert.match(missing.hint!, /htpasswd -cB/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// PasswordFile: cache, reload, timing

describe('PasswordFile', () => {
  test('caches a success (no second bcrypt run) but never a failure, and forgets after the TTL', async (t) => {
    const { file, clock } = await passwordFile(t, [bcryptLine('alice', 'secret')]);
    assert.equal(await file.verify('alice', 'secret'), true);
    assert.equal(file.stats().bcryptComparisons, 1);
    const t0 = performance.now();
    assert.equal(await file.verify('alice', 'secret'), true);
    const hitMs = performance.now() - t0;
    assert.deepEqual([file.stats().bcryptComparisons, file.stats().cacheHits], [1, 1]);
    assert.ok(hitMs < 50, `a cache hit took ${hitMs} ms`);

    // A different password for a cached user is a miss: the cache is keyed on the password too.
    assert.equal(await file.verify('alice', 'secreT'), false);
    assert.equal(await file.verify('alice', 'secreT'), false);
    assert.equal(file.stats().bcryptComparisons, 3, 'each failure runs bcrypt again');
    assert.equal(await file.verify('alice', 'secret'), true, 'the failures did not evict the success');
    assert.equal(file.stats().bcryptComparisons, 3);

    clock.advance(60_001);
    assert.equal(await file.verify('alice', 'secret'), true);
    assert.equal(file.stats().bcryptComparisons, 4, 'after 60 s the cached success is gone');
    assert.equal(file.stats().reads, 1, 'the unchanged file was not read again');
  });

  test('a changed password takes effect at the next look at the file (at most once a second)', async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
    const { file, clock, path } = await passwordFile(t, [await htpasswdLine(['-B', '-C', '4'], 'alice', 'old')]);
    assert.equal(await file.verify('alice', 'old'), true);
    await replaceFile(path, `${await htpasswdLine(['-B', '-C', '4'], 'alice', 'new')}\n${await htpasswdLine(['-B', '-C', '4'], 'bob', 'b')}\n`);

    clock.advance(500);
    assert.equal(await file.verify('alice', 'old'), true, 'within a second the file is not looked at');
    assert.deepEqual(file.users(), ['alice']);

    clock.advance(600);
    assert.equal(await file.verify('alice', 'old'), false, 'the cached success died with the old file');
    assert.equal(await file.verify('alice', 'new'), true);
    assert.equal(await file.verify('bob', 'b'), true, 'a user added without a restart');
    assert.deepEqual(file.users(), ['alice', 'bob']);
    assert.equal(file.stats().reads, 2);
  });

  test('a removed file locks everyone out (once warned); restoring it lets them back in', async (t) => {
    const line = bcryptLine('alice', 'secret');
    const { file, clock, path, warnings } = await passwordFile(t, [line]);
    assert.equal(await file.verify('alice', 'secret'), true);
    await rm(path);
    clock.advance(1_001);
    assert.equal(await file.verify('alice', 'secret'), false, 'fail closed, cache included');
    clock.advance(1_001);
    assert.equal(await file.verify('alice', 'secret'), false);
    assert.equal(warnings.length, 1, `one warning, not one a second: ${warnings.join(' | ')}`);
    assert.match(warnings[0]!, /does not exist; every login is refused/);
    await writeFile(path, line);
    clock.advance(1_001);
    assert.equal(await file.verify('alice', 'secret'), true);
  });

  test('the success cache is bounded', async (t) => {
    const { file } = await passwordFile(t, [bcryptLine('u1', 'p1'), bcryptLine('u2', 'p2'), bcryptLine('u3', 'p3')], {
      cacheMaxEntries: 2,
    });
    for (const u of ['1', '2', '3']) assert.equal(await file.verify(`u${u}`, `p${u}`), true);
    assert.equal(file.stats().bcryptComparisons, 3);
    assert.equal(await file.verify('u3', 'p3'), true);
    assert.equal(file.stats().bcryptComparisons, 3, 'u3 is cached');
    assert.equal(await file.verify('u1', 'p1'), true);
    assert.equal(file.stats().bcryptComparisons, 4, 'u1 was evicted when u3 came in');
  });

  test('an unknown user costs a real bcrypt comparison, as long as a known user with a wrong password', async (t) => {
    // Cost 6 (~4 ms in bcryptjs) so that the difference from "no comparison at all" (~µs) is unmistakable.
    const { file } = await passwordFile(t, [bcryptLine('alice', 'secret', 6), bcryptLine('bob', 'x', 6)], { cacheTtlMs: 0 });
    await file.verify('nobody', 'x'); // warm-up: the dummy hash is ready, the JIT has seen both paths
    await file.verify('alice', 'wrong');
    const before = file.stats().bcryptComparisons;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      let s = performance.now();
      assert.equal(await file.verify('alice', `wrong${i}`), false);
      known.push(performance.now() - s);
      s = performance.now();
      assert.equal(await file.verify(`ghost${i}`, `wrong${i}`), false);
      unknown.push(performance.now() - s);
    }
    assert.equal(file.stats().bcryptComparisons - before, 12, 'unknown users ran bcrypt too');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    // Shown, not asserted: the suite makes no timed assertions (the count above is what must hold).
    t.diagnostic(`unknown/known time ratio ${(median(unknown) / median(known)).toFixed(2)} (${median(unknown).toFixed(2)} / ${median(known).toFixed(2)} ms)`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Access rules

describe('access', () => {
  test('glob matching', () => {
    const table: Array<[string, string, boolean]> = [
      ['**', 'a', true],
      ['**', 'a/b/c', true],
      ['team-a/**', 'team-a', false],
      ['team-a/**', 'team-a/app', true],
      ['team-a/**', 'team-a/x/y', true],
      ['team-a/**', 'team-ab/app', false],
      ['team-a/**', 'x/team-a/app', false],
      ['a/**/b', 'a/b', true],
      ['a/**/b', 'a/x/b', true],
      ['a/**/b', 'a/x/y/b', true],
      ['a/**/b', 'a/bb', false],
      ['a/**/b', 'ab', false],
      ['a/**/b', 'a/b/c', false],
      ['**/b', 'b', true],
      ['**/b', 'x/y/b', true],
      ['**/b', 'xb', false],
      ['*', 'a', true],
      ['*', 'a/b', false],
      ['a/*/c', 'a/b/c', true],
      ['a/*/c', 'a/c', false],
      ['a/*/c', 'a/b/x/c', false],
      ['*-prod/*', 'web-prod/app', true],
      ['*-prod/*', 'web-prod', false],
      ['*-prod/*', 'web-prod/app/x', false],
      ['*-prod/*', 'web-dev/app', false],
      ['team-*/app', 'team-a/app', true],
      ['team-*/app', 'team-a/b/app', false],
      ['app', 'app', true],
      ['app', 'apps', false],
      ['app', 'app/x', false],
      ['app', 'xapp', false],
      ['a.b', 'a.b', true],
      ['a.b', 'axb', false], // a dot is literal, not a regular-expression wildcard
      ['a/**', 'a/', false], // not a repository name
      ['a/**', 'a//b', false],
      ['**', '', false],
    ];
    const wrong = table.filter(([p, name, want]) => matchRepository(p, name) !== want);
    assert.deepEqual(wrong, []);
  });

  test('a many-star pattern against a long name answers at once (no backtracking blow-up)', () => {
    const start = performance.now();
    assert.equal(matchRepository('*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(255)), false);
    assert.equal(matchRepository('**/x/**/x/**/x/**/y', Array(120).fill('x').join('/')), false);
    assert.ok(performance.now() - start < 500);
  });

  test('invalid patterns are refused', () => {
    for (const p of ['', 'Team-A/**', 'a//b', '/a', 'a/', 'a**', '**x/y', '**/**', 'a b', 'a/[bc]']) {
      expectCode(() => matchRepository(p, 'a'), 'SERVER_CONFIG_INVALID');
    }
  });

  const RULES: AccessRule[] = [
    { repositories: ['team-a/**'], users: ['alice'], groups: ['ci'], actions: ['pull', 'push', 'delete'] },
    { repositories: ['**'], users: ['bob'], actions: ['pull'] },
    { repositories: ['public/**'], anonymous: ['pull'] },
  ];
  const GROUPS = { ci: ['carol', 'dave'] };
  const sorted = (s: Set<string>) => [...s].sort();

  test('actions are the union of every matching rule; anonymous grants go to everyone', () => {
    const policy = new AccessPolicy(RULES, GROUPS);
    const cases: Array<[string | undefined, string, string[]]> = [
      ['alice', 'team-a/app', ['delete', 'pull', 'push']],
      ['alice', 'team-a', []], // the trailing /** does not give the prefix
      ['alice', 'team-b/app', []],
      ['alice', 'public/x', ['pull']], // anonymous grants reach logged-in users
      ['bob', 'team-a/app', ['pull']],
      ['bob', 'anything/at/all', ['pull']],
      ['carol', 'team-a/app', ['delete', 'pull', 'push']], // through group ci
      ['carol', 'team-b/app', []],
      ['eve', 'public/x', ['pull']],
      ['eve', 'team-a/app', []],
      [undefined, 'public/x', ['pull']],
      [undefined, 'public', []],
      [undefined, 'team-a/app', []],
    ];
    for (const [user, repo, want] of cases) {
      assert.deepEqual(sorted(policy.actions(policy.identity(user), repo)), want, `${user ?? 'anonymous'} on ${repo}`);
    }
    assert.deepEqual(policy.identity('dave'), { user: 'dave', groups: ['ci'] });
    // Groups come from the configuration even for an identity built by hand; an anonymous one never has any.
    assert.ok(policy.can({ user: 'dave', groups: [] }, 'team-a/app', 'push'));
    assert.ok(!policy.can({ groups: ['ci'] }, 'team-a/app', 'pull'));
    assert.ok(policy.can({ user: 'zed', groups: ['ci'] }, 'team-a/app', 'delete'));
    assert.ok(!policy.can(policy.identity('bob'), 'team-a/app', 'push'));
  });

  test('rules add up across rules for one user, and no rules allow nothing', () => {
    const policy = new AccessPolicy([
      { repositories: ['**'], users: ['alice'], actions: ['pull'] },
      { repositories: ['team-a/**', 'shared'], users: ['alice'], actions: ['push'] },
    ]);
    assert.deepEqual(sorted(policy.actions(policy.identity('alice'), 'team-a/x')), ['pull', 'push']);
    assert.deepEqual(sorted(policy.actions(policy.identity('alice'), 'shared')), ['pull', 'push']);
    assert.deepEqual(sorted(policy.actions(policy.identity('alice'), 'other')), ['pull']);
    const none = new AccessPolicy([]);
    assert.deepEqual(sorted(none.actions(none.identity('alice'), 'x')), []);
    assert.deepEqual(sorted(none.actions(none.identity(), 'x')), []);
  });

  test('a rule naming an undefined group is a configuration error', () => {
    const err = expectCode(() => new AccessPolicy(RULES, { cj: ['carol'] }), 'SERVER_CONFIG_INVALID');
    assert.match(err.message, /access\[0\]\.groups: group "ci" is not defined/);
  });

  test('validateAccessRules accepts the documented shape', () => {
    const rules = validateAccessRules(
      [
        { repositories: ['team-a/**'], users: ['alice'], groups: ['ci'], actions: ['delete', 'pull', 'push'] },
        { repositories: ['**'], users: ['bob'], actions: ['pull'] },
        { repositories: ['public/**'], anonymous: ['pull'] },
      ],
      'wharf.yaml: access',
    );
    assert.deepEqual(rules[0], { repositories: ['team-a/**'], users: ['alice'], groups: ['ci'], actions: ['pull', 'push', 'delete'] });
    assert.deepEqual(rules[2], { repositories: ['public/**'], anonymous: ['pull'] });
    assert.deepEqual(validateAccessRules(undefined, 'x'), []);
    assert.deepEqual({ ...validateGroups({ ci: ['carol', 'dave'] }, 'groups') }, { ci: ['carol', 'dave'] });
    assert.deepEqual(Object.keys(validateGroups(JSON.parse('{"__proto__": ["x"]}'), 'groups')), ['__proto__'], 'a group named __proto__ is just a name');
  });

  test('validateAccessRules refuses bad input, naming the rule and the key', () => {
    const ok = { repositories: ['**'], users: ['bob'], actions: ['pull'] };
    const cases: Array<[unknown, RegExp]> = [
      [{ repositories: ['**'] }, /./],
      [[ok, 'pull'], /access\[1\]: a rule must be a mapping/],
      [[ok, { ...ok, repos: ['x'] }], /access\[1\]\.repos: is not a known key/],
      [[ok, { ...ok, actions: ['pull', 'write'] }], /access\[1\]\.actions: item 1 \("write"\) is not an action/],
      [[ok, { ...ok, users: [42] }], /access\[1\]\.users: item 0 is a number/],
      [[ok, { ...ok, users: ['a:b'] }], /access\[1\]\.users: item 0/],
      [[ok, { ...ok, repositories: [] }], /access\[1\]\.repositories: is an empty list/],
      [[ok, { users: ['bob'], actions: ['pull'] }], /access\[1\]\.repositories: is missing/],
      [[ok, { repositories: ['x'], users: ['bob'] }], /access\[1\]\.actions: is missing/],
      [[ok, { repositories: ['x'], actions: ['pull'] }], /access\[1\]\.users: is missing/],
      [[ok, { repositories: ['x'] }], /access\[1\]\.actions: is missing: the rule grants nothing/],
      [[ok, { repositories: ['Team/**'], anonymous: ['pull'] }], /access\[1\]\.repositories: item 0/],
      [[ok, { repositories: ['x'], anonymous: 'pull' }], /access\[1\]\.anonymous: must be a list/],
      [[ok, { ...ok, actions: [null] }], /access\[1\]\.actions: item 0 is a null/],
    ];
    for (const [input, want] of cases) {
      const err = expectCode(() => validateAccessRules(input, 'access'), 'SERVER_CONFIG_INVALID');
      assert.match(err.message, want);
      if (Array.isArray(input)) assert.match(err.hint!, /rule 1/);
    }
    expectCode(() => validateGroups({ ci: 'carol' }, 'groups'), 'SERVER_CONFIG_INVALID');
    expectCode(() => validateGroups({ ci: [1] }, 'groups'), 'SERVER_CONFIG_INVALID');
    expectCode(() => validateGroups(['ci'], 'groups'), 'SERVER_CONFIG_INVALID');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Scopes

describe('scopes', () => {
  test('parses the grammar of distribution\'s scope.md', () => {
    assert.deepEqual(parseScope('repository:team-a/app:pull,push'), { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository(plugin):x/y:*'), { type: 'repository', class: 'plugin', name: 'x/y', actions: ['*'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    // The name may carry a host with a port: the actions are after the LAST colon.
    assert.deepEqual(parseScope('repository:localhost:5000/app:pull'), { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] });
    assert.deepEqual(parseScope('repository:Reg.Example.com/a/b__c.d-e:pull'), { type: 'repository', name: 'Reg.Example.com/a/b__c.d-e', actions: ['pull'] });
    assert.deepEqual(parseScope('repository:a:pull,,push,pull'), { type: 'repository', name: 'a', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository:a:'), { type: 'repository', name: 'a', actions: [] });
    assert.equal(formatScope(parseScope('repository(plugin):x/y:pull,push')!), 'repository(plugin):x/y:pull,push');
  });

  test('malformed and hostile scopes are ignored, not thrown on', () => {
    const hostile = [
      '', ':', '::', ':::', 'repository', 'repository:app', 'repository::pull', ':app:pull', 'repository:App:pull',
      'repository:app:PULL', 'repository:app:pull;rm', 'repository:a:b:c:pull', 'repository:app/:pull', 'repository:/app:pull',
      'repository:a//b:pull', 'repository:app:pull\u0000', 'Repository:app:pull', 'repository:app:pull push', 'repository(:app:pull',
      'repository(a)(b):app:pull', 'repository:localhost:abc/app:pull', 'repository:__proto__:pull', 'repository:-a:pull',
      `repository:${'a'.repeat(600)}:pull`, `repository:a:${Array.from({ length: 20 }, (_, i) => 'x'.repeat(i + 1)).join(',')}`, 'repo sitory:a:pull', 'repository:a\nb:pull',
    ];
    for (const s of hostile) assert.equal(parseScope(s), undefined, JSON.stringify(s));
    assert.equal(parseScope(42 as unknown as string), undefined);
  });

  test('parseScopes splits space-separated lists, drops garbage and caps the count', () => {
    assert.deepEqual(
      parseScopes(['repository:a:pull repository:b:push', 'garbage', '  registry:catalog:*  ']).map(formatScope),
      ['repository:a:pull', 'repository:b:push', 'registry:catalog:*'],
    );
    const many = Array.from({ length: 10_000 }, (_, i) => `repository:r${i}:pull`).join(' ');
    assert.equal(parseScopes([many]).length, MAX_SCOPES);
    assert.equal(parseScopes(Array(1000).fill('repository:x:pull')).length, MAX_SCOPES);
    const start = performance.now();
    assert.deepEqual(parseScopes([' '.repeat(1_000_000), ':'.repeat(100_000)]), []);
    assert.ok(performance.now() - start < 1000);
  });
});

// ---------------------------------------------------------------------------------------------------------
// JWT

describe('JWT', () => {
  const key = randomBytes(32);
  const iat = 1_700_000_000;
  const claims: TokenClaims = {
    iss: 'wharf-test',
    sub: 'alice',
    aud: 'registry.test',
    exp: iat + 300,
    nbf: iat,
    iat,
    jti: 'j1',
    access: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }],
  };
  const expect: VerifyExpectation = { issuer: 'wharf-test', audience: 'registry.test', now: iat * 1000 + 1000 };
  const rejected = (token: string, e = expect, k = key) => expectCode(() => verifyToken(token, k, e), 'AUTH_FAILED');
  const hs256 = (input: string, k = key) => createHmac('sha256', k).update(input).digest('base64url');

  test('round trip', () => {
    const token = signToken(claims, key);
    assert.deepEqual(verifyToken(token, key, expect), claims);
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  });

  test('a flipped payload byte or a re-encoded, widened payload fails the signature', () => {
    const [h, p, s] = signToken(claims, key).split('.') as [string, string, string];
    const flipped = p.slice(0, 10) + (p[10] === 'A' ? 'B' : 'A') + p.slice(11);
    assert.match(rejected(`${h}.${flipped}.${s}`).message, /signature/);
    const widened = b64url({ ...claims, access: [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push', 'delete'] }] });
    assert.match(rejected(`${h}.${widened}.${s}`).message, /signature/);
    const sigFlipped = s.slice(0, -2) + (s.at(-2) === 'A' ? 'B' : 'A') + s.at(-1);
    rejected(`${h}.${p}.${sigFlipped}`);
    rejected(`${h}.${p}.${s}A`);
    rejected(signToken(claims, randomBytes(32)));
  });

  test('alg "none" is refused (the classic JWT bypass), with or without a signature', () => {
    const payload = b64url({ ...claims, sub: 'admin' });
    for (const alg of ['none', 'None', 'NONE']) {
      const header = b64url({ alg, typ: 'JWT' });
      rejected(`${header}.${payload}.`);
      // Even with a signature that is right for these bytes, the algorithm alone is grounds for refusal.
      assert.match(rejected(`${header}.${payload}.${hs256(`${header}.${payload}`)}`).message, /algorithm/);
    }
    rejected(`${b64url({ typ: 'JWT' })}.${payload}.${hs256(`${b64url({ typ: 'JWT' })}.${payload}`)}`);
  });

  test('other algorithms are refused, however they are signed', () => {
    const payload = b64url(claims);
    for (const header of [{ alg: 'HS512' }, { alg: 'RS256' }, { alg: 'hs256' }, { alg: 'HS256 ' }, { alg: ['HS256'] }, { alg: 'HS256', crit: ['exp'] }, { alg: 'HS256', typ: 'JWE' }]) {
      const h = b64url(header);
      rejected(`${h}.${payload}.${hs256(`${h}.${payload}`)}`);
    }
    const h512 = b64url({ alg: 'HS512', typ: 'JWT' });
    rejected(`${h512}.${payload}.${createHmac('sha512', key).update(`${h512}.${payload}`).digest('base64url')}`);
  });

  test('expiry and not-before, with 60 s of clock skew', () => {
    const token = signToken(claims, key);
    verifyToken(token, key, { ...expect, now: (claims.exp + CLOCK_SKEW_SECONDS - 1) * 1000 });
    assert.match(rejected(token, { ...expect, now: (claims.exp + CLOCK_SKEW_SECONDS + 1) * 1000 }).message, /expired/);
    verifyToken(token, key, { ...expect, now: (claims.nbf - CLOCK_SKEW_SECONDS + 1) * 1000 });
    assert.match(rejected(token, { ...expect, now: (claims.nbf - CLOCK_SKEW_SECONDS - 1) * 1000 }).message, /not valid yet/);
    const noExp = { ...claims } as Partial<TokenClaims>;
    delete noExp.exp;
    rejected(signToken(noExp as TokenClaims, key));
    rejected(signToken({ ...claims, exp: 'never' } as unknown as TokenClaims, key));
  });

  test('a token for another audience or from another issuer is refused', () => {
    assert.match(rejected(signToken({ ...claims, aud: 'other.registry' }, key)).message, /audience/);
    assert.match(rejected(signToken({ ...claims, iss: 'evil' }, key)).message, /issuer/);
    const multi = signToken({ ...claims, aud: ['x', 'registry.test'] } as unknown as TokenClaims, key);
    assert.equal(verifyToken(multi, key, expect).aud, 'registry.test');
  });

  test('structure, size and token kind', () => {
    for (const bad of ['', 'a', 'a.b', 'a.b.c.d', 'a..c', '!!!.b.c', `${b64url('nope')}.${b64url(claims)}.x`, `${b64url([1])}.${b64url(claims)}.x`]) {
      rejected(bad);
    }
    const h = b64url({ alg: 'HS256', typ: 'JWT' });
    const arr = b64url([claims]);
    rejected(`${h}.${arr}.${hs256(`${h}.${arr}`)}`);
    const huge = b64url({ ...claims, pad: 'x'.repeat(9000) });
    assert.match(rejected(`${h}.${huge}.${hs256(`${h}.${huge}`)}`).message, /longer than 8192/);
    expectCode(() => signToken({ ...claims, access: [{ type: 'repository', name: 'x'.repeat(9000), actions: [] }] }, key), 'TOO_LARGE');

    const refresh = signToken({ ...claims, access: [], token_use: 'refresh' }, key);
    assert.match(rejected(refresh).message, /refresh token cannot be used/);
    assert.equal(verifyToken(refresh, key, { ...expect, use: 'refresh' }).token_use, 'refresh');
    assert.match(rejected(signToken(claims, key), { ...expect, use: 'refresh' }).message, /not a refresh token/);
    expectCode(() => signToken(claims, randomBytes(16)), 'SERVER_CONFIG_INVALID');
    expectCode(() => verifyToken(signToken(claims, key), randomBytes(16), expect), 'SERVER_CONFIG_INVALID');
  });
});

// ---------------------------------------------------------------------------------------------------------
// The token endpoint

describe('issueToken', () => {
  async function setup(t: TestContext) {
    const { file, clock, path } = await passwordFile(t, [bcryptLine('alice', 'a-pw'), bcryptLine('bob', 'b-pw'), bcryptLine('carol', 'c-pw')]);
    const policy = new AccessPolicy(
      [
        { repositories: ['team-a/**'], users: ['alice'], groups: ['ci'], actions: ['pull', 'push', 'delete'] },
        { repositories: ['**'], users: ['bob'], actions: ['pull'] },
        { repositories: ['public/**'], anonymous: ['pull'] },
      ],
      { ci: ['carol'] },
    );
    const deps: TokenDeps = { passwords: file, policy, key: randomBytes(32), issuer: 'wharf', service: 'registry.test', expiresIn: 300, now: clock.now };
    const get = (params: Record<string, string | string[]>, authorization?: string) => {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) query.append(k, x);
      return issueToken({ method: 'GET', query, authorization }, deps);
    };
    const post = (form: Record<string, string>) => issueToken({ method: 'POST', query: new URLSearchParams(), form: new URLSearchParams(form) }, deps);
    const verify = (token: string, use?: 'refresh') => verifyToken(token, deps.key, { issuer: 'wharf', audience: 'registry.test', now: clock.now(), use });
    const basic = (u: string, p: string) => `Basic ${b64(`${u}:${p}`)}`;
    return { deps, clock, path, get, post, verify, basic };
  }

  test('anonymous: only the anonymous grants, and an empty list where it has none', async (t) => {
    const { get, verify, clock } = await setup(t);
    const r = await get({ service: 'registry.test', scope: ['repository:public/x:pull,push', 'repository:team-a/app:pull', 'registry:catalog:*'] });
    assert.equal(r.status, 200);
    assert.equal(r.body.token, r.body.access_token);
    assert.equal(r.body.expires_in, 300);
    assert.equal(r.body.issued_at, new Date(clock.now()).toISOString().replace('.000Z', 'Z'));
    assert.equal(r.body.refresh_token, undefined);
    const claims = verify(r.body.token);
    assert.equal(claims.sub, '');
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'public/x', actions: ['pull'] },
      { type: 'repository', name: 'team-a/app', actions: [] },
      { type: 'registry', name: 'catalog', actions: [] },
    ]);
  });

  test('a user gets, per scope, only the actions the policy gives them', async (t) => {
    const { get, verify, basic } = await setup(t);
    const scope = ['repository:team-a/app:pull,push,delete', 'repository:other/x:pull repository(plugin):team-a/p:*', 'registry:catalog:*', 'repository:team-a/app:pull', 'thing:x:pull'];
    const alice = verify((await get({ service: 'registry.test', scope, account: 'alice' }, basic('alice', 'a-pw'))).body.token);
    assert.equal(alice.sub, 'alice');
    assert.deepEqual(alice.access, [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'other/x', actions: [] },
      { type: 'repository', name: 'team-a/p', actions: ['pull', 'push', 'delete'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'thing', name: 'x', actions: [] },
    ]);
    const bob = verify((await get({ scope: 'repository:team-a/app:pull,push,delete' }, basic('bob', 'b-pw'))).body.token);
    assert.deepEqual(bob.access, [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
    const carol = verify((await get({ scope: 'repository:team-a/app:push' }, basic('carol', 'c-pw'))).body.token);
    assert.deepEqual(carol.access, [{ type: 'repository', name: 'team-a/app', actions: ['push'] }], 'only what was asked');
    const hostile = verify((await get({ scope: Array(500).fill('repository:public/x:pull') }, basic('bob', 'b-pw'))).body.token);
    assert.equal(hostile.access.length, 1, 'duplicates merged');
  });

  test('bad credentials are AUTH_FAILED, malformed requests USAGE', async (t) => {
    const { get, post, basic, deps } = await setup(t);
    await expectCodeAsync(get({}, basic('alice', 'wrong')), 'AUTH_FAILED');
    await expectCodeAsync(get({}, basic('mallory', 'a-pw')), 'AUTH_FAILED');
    await expectCodeAsync(get({}, 'Basic !!!'), 'AUTH_FAILED');
    await expectCodeAsync(get({}, 'Bearer abc'), 'AUTH_FAILED');
    await expectCodeAsync(get({ account: 'bob' }, basic('alice', 'a-pw')), 'AUTH_FAILED');
    await expectCodeAsync(get({ service: 'other.registry' }), 'USAGE');
    await expectCodeAsync(post({ grant_type: 'password', username: 'alice', password: 'nope', service: 'registry.test' }), 'AUTH_FAILED');
    await expectCodeAsync(post({ grant_type: 'password', username: 'alice' }), 'USAGE');
    await expectCodeAsync(post({ grant_type: 'client_credentials' }), 'USAGE');
    await expectCodeAsync(issueToken({ method: 'POST', query: new URLSearchParams() }, deps), 'USAGE');
    await expectCodeAsync(issueToken({ method: 'PUT', query: new URLSearchParams() }, deps), 'USAGE');
    const noUsers = { ...deps, passwords: undefined };
    await expectCodeAsync(issueToken({ method: 'GET', query: new URLSearchParams(), authorization: basic('alice', 'a-pw') }, noUsers), 'AUTH_FAILED');
    await expectCodeAsync(issueToken({ method: 'GET', query: new URLSearchParams() }, { ...deps, expiresIn: 30 }), 'SERVER_CONFIG_INVALID');
  });

  test('OAuth2: password grant with a refresh token, then the refresh grant; a removed user loses it', async (t) => {
    const { get, post, verify, basic, clock, path } = await setup(t);
    const first = await post({ grant_type: 'password', username: 'alice', password: 'a-pw', service: 'registry.test', client_id: 'docker', access_type: 'offline', scope: 'repository:team-a/app:pull,push repository:nope/x:pull' });
    assert.equal(first.body.scope, 'repository:team-a/app:pull,push');
    const refresh = first.body.refresh_token!;
    assert.ok(refresh);
    assert.equal(verify(refresh, 'refresh').sub, 'alice');
    expectCode(() => verify(refresh), 'AUTH_FAILED'); // never usable as an access token
    assert.deepEqual(verify(first.body.token).access[0], { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] });

    // GET with offline_token=true is the other way docker asks for one.
    assert.ok((await get({ offline_token: 'true' }, basic('bob', 'b-pw'))).body.refresh_token);
    assert.equal((await get({ offline_token: 'true' })).body.refresh_token, undefined, 'nothing to refresh for anonymous');

    clock.advance(3600_000);
    const again = await post({ grant_type: 'refresh_token', refresh_token: refresh, service: 'registry.test', scope: 'repository:team-a/app:delete' });
    assert.equal(again.body.refresh_token, refresh);
    assert.deepEqual(verify(again.body.token).access, [{ type: 'repository', name: 'team-a/app', actions: ['delete'] }]);
    assert.equal(verify(again.body.token).sub, 'alice');

    const [h, p, s] = refresh.split('.') as [string, string, string];
    const forged = `${h}.${b64url({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'bob' })}.${s}`;
    await expectCodeAsync(post({ grant_type: 'refresh_token', refresh_token: forged }), 'AUTH_FAILED');
    await expectCodeAsync(post({ grant_type: 'refresh_token', refresh_token: first.body.token }), 'AUTH_FAILED');

    await replaceFile(path, `${bcryptLine('bob', 'b-pw')}\n`);
    clock.advance(1_001);
    const gone = await expectCodeAsync(post({ grant_type: 'refresh_token', refresh_token: refresh }), 'AUTH_FAILED');
    assert.match(gone.message, /no longer exists/);
  });

  test('a refresh token expires after 30 days', async (t) => {
    const { post, clock } = await setup(t);
    const { body } = await post({ grant_type: 'password', username: 'bob', password: 'b-pw', access_type: 'offline' });
    clock.advance(31 * 24 * 3600_000);
    const err = await expectCodeAsync(post({ grant_type: 'refresh_token', refresh_token: body.refresh_token! }), 'AUTH_FAILED');
    assert.match(err.message, /expired/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Authorization header and challenges

describe('Authorization header', () => {
  test('Basic and Bearer, case-insensitive', () => {
    assert.deepEqual(parseAuthorization(`Basic ${b64('alice:secret')}`), { scheme: 'basic', user: 'alice', password: 'secret' });
    assert.deepEqual(parseAuthorization(`basic ${b64('alice:a:b:c')}`), { scheme: 'basic', user: 'alice', password: 'a:b:c' });
    assert.deepEqual(parseAuthorization(`BASIC   ${b64('zoë:pässwörd')}  `), { scheme: 'basic', user: 'zoë', password: 'pässwörd' });
    assert.deepEqual(parseAuthorization(`Basic ${b64('a:')}`), { scheme: 'basic', user: 'a', password: '' });
    assert.deepEqual(parseAuthorization('Basic YTpiYw'), { scheme: 'basic', user: 'a', password: 'bc' }, 'unpadded base64');
    assert.deepEqual(parseAuthorization('Bearer abc.def-_.ghi'), { scheme: 'bearer', token: 'abc.def-_.ghi' });
    assert.deepEqual(parseAuthorization('bearer abc'), { scheme: 'bearer', token: 'abc' });
  });

  test('hostile headers are undefined, never a throw', () => {
    const bad: Array<string | undefined> = [
      undefined, '', ' ', 'Basic', 'Basic ', 'Basic !!!!', 'Basic YWxpY2U6c2VjcmV0!', 'Basic YTpiYw=', 'Basic Y', `Basic ${b64('nocolon')}`,
      `Basic ${b64(':pw')}`, `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0x61]))}`, `Basic ${b64('al\u0000ice:pw')}`, `Basic ${b64('alice:p\nw')}`,
      `Basic ${b64('a:b')} extra`, 'Digest username="a"', 'Basic\u0000YTpi', 'Bearer', 'Bearer a"b', 'Bearer a,b', 'Bearer\ttok\nx',
      `Basic ${'A'.repeat(9000)}`, `Bearer ${'a'.repeat(8200)}`, 'Negotiate YTpi', 'Basi YTpi',
    ];
    for (const h of bad) assert.equal(parseAuthorization(h), undefined, JSON.stringify(h?.slice(0, 40)));
    assert.equal(parseAuthorization(42 as unknown as string), undefined);
  });

  test('challenges are quoted correctly', () => {
    assert.equal(basicChallenge('wharf'), 'Basic realm="wharf",charset="UTF-8"');
    assert.equal(basicChallenge('My "Realm" \\ x'), 'Basic realm="My \\"Realm\\" \\\\ x",charset="UTF-8"');
    assert.equal(
      bearerChallenge({ realm: 'https://r.test/token', service: 'r.test', scope: 'repository:a:pull,push' }),
      'Bearer realm="https://r.test/token",service="r.test",scope="repository:a:pull,push"',
    );
    assert.equal(
      bearerChallenge({ realm: 'https://r.test/token', service: 'r"test', scope: ['repository:a:pull', 'repository:b:pull'], error: 'insufficient_scope' }),
      'Bearer realm="https://r.test/token",service="r\\"test",scope="repository:a:pull repository:b:pull",error="insufficient_scope"',
    );
    assert.equal(bearerChallenge({ realm: 'x\r\nSet-Cookie: a=b', service: 's' }), 'Bearer realm="xSet-Cookie: a=b",service="s"', 'no header injection');
  });
});
