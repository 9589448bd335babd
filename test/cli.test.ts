import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { CopyEvent, CopyOptions, CopyResult } from '../src/copy/types.js';
import { digestOf, type Digest } from '../src/digest/index.js';
import { WharfError, type ErrorCode } from '../src/errors.js';
import type { InspectResult } from '../src/inspect/types.js';
import type { ImageReference } from '../src/transports/types.js';
import { COMMANDS, run } from '../src/cli/app.js';
import { parseArgs, suggest, type FlagSpec } from '../src/cli/args.js';
import { configJson, inspectJson, inspectTable } from '../src/cli/commands/inspect.js';
import { ExitCode, exitCodeFor, exitCodeForCode } from '../src/cli/exit-codes.js';
import { humanAge, humanSize, shellWords } from '../src/cli/format.js';
import { goMap, goMarshal, goMarshalIndent, goQuote, goTime } from '../src/util/go-json.js';
import { commandHelp, mainHelp } from '../src/cli/help.js';
import { ProgressRenderer } from '../src/cli/progress.js';
import type { CliIO, CliLibrary } from '../src/cli/types.js';
import { Sink } from './helpers/sink.js';

const D1 = `sha256:${'a'.repeat(64)}` as Digest;
const D2 = `sha256:${'b'.repeat(64)}` as Digest;
const D3 = `sha256:${'c'.repeat(64)}` as Digest;
const DM = `sha256:${'d'.repeat(64)}` as Digest;

// ---------------------------------------------------------------------------------------------------------------
describe('argument parser', () => {
  const specs: FlagSpec[] = [
    { name: 'quiet', short: 'q', type: 'boolean', help: '' },
    { name: 'all', short: 'a', type: 'boolean', help: '' },
    { name: 'format', short: 'f', type: 'string', choices: ['oci', 'v2s2'], help: '' },
    { name: 'platform', type: 'string', repeatable: true, help: '' },
    { name: 'digestfile', type: 'string', help: '' },
    { name: 'level', type: 'int', help: '' },
  ];
  const usage = (fn: () => unknown, re: RegExp, hint?: RegExp) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof WharfError);
      assert.equal(err.code, 'USAGE');
      assert.match(err.message, re);
      if (hint) assert.match(err.hint ?? '', hint);
      return true;
    });

  test('flags and operands, mixed in any order', () => {
    const p = parseArgs(['src', '--quiet', 'dest', '--format', 'oci'], specs);
    assert.deepEqual(p.operands, ['src', 'dest']);
    assert.equal(p.bool('quiet'), true);
    assert.equal(p.str('format'), 'oci');
    assert.equal(p.bool('all'), false);
  });

  test('--flag=value and -f value, -fvalue, -f=value', () => {
    assert.equal(parseArgs(['--format=v2s2'], specs).str('format'), 'v2s2');
    assert.equal(parseArgs(['-f', 'v2s2'], specs).str('format'), 'v2s2');
    assert.equal(parseArgs(['-fv2s2'], specs).str('format'), 'v2s2');
    assert.equal(parseArgs(['-f=oci'], specs).str('format'), 'oci');
    assert.equal(parseArgs(['--digestfile=a=b'], specs).str('digestfile'), 'a=b', 'only the first = splits');
    assert.equal(parseArgs(['--digestfile='], specs).str('digestfile'), '', 'an explicit empty value');
  });

  test('grouped short booleans and boolean values', () => {
    const p = parseArgs(['-qa'], specs);
    assert.equal(p.bool('quiet'), true);
    assert.equal(p.bool('all'), true);
    assert.equal(parseArgs(['--quiet=false'], specs).bool('quiet'), false);
    assert.equal(parseArgs(['-qf', 'oci'], specs).str('format'), 'oci');
    usage(() => parseArgs(['--quiet=yes'], specs), /boolean/);
  });

  test('unknown flags are usage errors with a suggestion', () => {
    usage(() => parseArgs(['--qiet'], specs), /unknown flag --qiet/, /did you mean --quiet\?/);
    usage(() => parseArgs(['--formt=oci'], specs), /unknown flag --formt/, /--format/);
    usage(() => parseArgs(['-x'], specs), /unknown flag -x/);
    usage(() => parseArgs(['-quiet'], specs), /unknown flag -quiet/, /two dashes: --quiet/);
    usage(() => parseArgs(['--zzzzzz'], specs, { command: 'wharf copy' }), /for 'wharf copy'/, /wharf copy --help/);
  });

  test('missing values are usage errors', () => {
    usage(() => parseArgs(['--format'], specs), /--format needs a value/);
    usage(() => parseArgs(['src', '-f'], specs), /-f \(--format\) needs a value/);
    usage(() => parseArgs(['--level', 'x'], specs), /whole number/);
  });

  test('a value may look like a flag when it follows a flag that needs one', () => {
    assert.equal(parseArgs(['--digestfile', '--quiet'], specs).str('digestfile'), '--quiet');
  });

  test('choices are checked, with a suggestion', () => {
    usage(() => parseArgs(['--format', 'v2s1'], specs), /invalid value "v2s1" for --format/, /did you mean "v2s2"\?.*oci, v2s2/);
  });

  test('repeated flags: last wins, repeatable ones collect', () => {
    const p = parseArgs(['--format', 'oci', '--format', 'v2s2', '--platform', 'linux/amd64', '--platform=linux/arm64'], specs);
    assert.equal(p.str('format'), 'v2s2');
    assert.deepEqual(p.list('platform'), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(parseArgs([], specs).list('platform'), []);
  });

  test('-- ends flags; - is an operand', () => {
    const p = parseArgs(['-q', '--', '--all', '-f', '-'], specs);
    assert.deepEqual(p.operands, ['--all', '-f', '-']);
    assert.equal(p.bool('all'), false);
    assert.deepEqual(parseArgs(['-'], specs).operands, ['-']);
  });

  test('int flags', () => {
    assert.equal(parseArgs(['--level', '7'], specs).int('level'), 7);
    assert.equal(parseArgs(['--level=-1'], specs).int('level'), -1);
  });

  test('stopAtOperand returns the rest untouched', () => {
    const p = parseArgs(['-q', 'copy', '--unknown', 'x'], specs, { stopAtOperand: true });
    assert.equal(p.bool('quiet'), true);
    assert.deepEqual(p.rest, ['copy', '--unknown', 'x']);
  });

  test('suggest', () => {
    assert.equal(suggest('cpy', ['copy', 'inspect']), 'copy');
    assert.equal(suggest('inpsect', ['copy', 'inspect']), 'inspect');
    assert.equal(suggest('manifest', ['copy', 'manifest-digest']), 'manifest-digest');
    assert.equal(suggest('zzz', ['copy', 'inspect']), undefined);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('Go-compatible JSON', () => {
  test('HTML characters, line separators and controls are escaped as Go does', () => {
    assert.equal(goQuote('<a href="x">&</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
    assert.equal(goQuote('\u2028\u2029'), '"\\u2028\\u2029"');
    assert.equal(goQuote('\n\r\t\b\f\u0001\u001f'), '"\\n\\r\\t\\u0008\\u000c\\u0001\\u001f"');
    assert.equal(goQuote('back\\slash "q"'), '"back\\\\slash \\"q\\""');
    assert.equal(goQuote('é 😀 \u007f'), '"é 😀 \u007f"', 'non-ASCII and DEL are written as is');
    assert.equal(goQuote('x\ud800y'), '"x\ufffdy"', 'a lone surrogate becomes U+FFFD');
  });

  test('4-space indent, empty arrays and objects, null', () => {
    const v = { a: [], b: {}, c: null, d: [1, 'x', true], e: { f: { g: [] } }, u: undefined };
    assert.equal(
      goMarshalIndent(v),
      '{\n    "a": [],\n    "b": {},\n    "c": null,\n    "d": [\n        1,\n        "x",\n        true\n    ],\n    "e": {\n        "f": {\n            "g": []\n        }\n    }\n}',
    );
    assert.equal(goMarshalIndent([]), '[]');
    assert.equal(goMarshalIndent(null), 'null');
    assert.equal(goMarshalIndent([undefined]), '[\n    null\n]');
  });

  test('compact form and numbers', () => {
    assert.equal(goMarshal({ a: [1, 2], b: 'x<' }), '{"a":[1,2],"b":"x\\u003c"}');
    assert.equal(goMarshal([-0, 1.5, 1e21, 1e-7, 123456789012]), '[-0,1.5,1e+21,1e-7,123456789012]');
    assert.throws(() => goMarshal(Number.NaN));
  });

  test('a Map is a Go map: keys sorted by bytes; a plain object keeps its order', () => {
    assert.equal(goMarshal(goMap({ b: 1, a: 2, '9': 3, '10': 4 })), '{"10":4,"9":3,"a":2,"b":1}');
    assert.equal(goMarshal({ z: 1, a: 2 }), '{"z":1,"a":2}');
    assert.equal(goMap(null), null);
  });

  test('Go time round trip', () => {
    assert.equal(goTime('2023-11-14T22:13:20Z'), '2023-11-14T22:13:20Z');
    assert.equal(goTime('2023-11-14T22:13:20.000Z'), '2023-11-14T22:13:20Z');
    assert.equal(goTime('2023-11-14T22:13:20.500000000+01:00'), '2023-11-14T22:13:20.5+01:00');
    assert.equal(goTime('2023-11-14T22:13:20.1234567891234Z'), '2023-11-14T22:13:20.123456789Z');
    assert.equal(goTime('2023-11-14T22:13:20+00:00'), '2023-11-14T22:13:20Z');
    assert.equal(goTime('yesterday'), 'yesterday');
  });

  test('inspect --config matches skopeo inspect --config byte for byte', () => {
    // Produced by `skopeo inspect --config` (1.9.3) on an image whose config holds these fields, out of order.
    const config = JSON.parse(
      '{"zzz":1,"history":[{"empty_layer":true,"comment":"c","author":"a","created_by":"x <&> \\u2028 \\b \\f \\u0001 é","created":"2023-11-14T22:13:20.500000000+01:00"}],' +
        '"rootfs":{"diff_ids":[],"type":"layers"},"config":{"ArgsEscaped":true,"StopSignal":"SIGTERM","Labels":{"b":"2","a":"1","10":"x","9":"y"},' +
        '"WorkingDir":"/w","Volumes":{"/v":{}},"Cmd":[],"Entrypoint":["/e"],"Env":null,"ExposedPorts":{"80/tcp":{},"443/tcp":{}},"User":"u",' +
        '"Healthcheck":{"Test":["CMD"]}},"os.features":["f"],"os.version":"10","variant":"v7","os":"linux","architecture":"arm","author":"me",' +
        '"created":"2023-11-14T22:13:20.000Z","container_config":{"x":1}}',
    );
    const expected = `{
    "created": "2023-11-14T22:13:20Z",
    "author": "me",
    "architecture": "arm",
    "variant": "v7",
    "os": "linux",
    "os.version": "10",
    "os.features": [
        "f"
    ],
    "config": {
        "User": "u",
        "ExposedPorts": {
            "443/tcp": {},
            "80/tcp": {}
        },
        "Entrypoint": [
            "/e"
        ],
        "Volumes": {
            "/v": {}
        },
        "WorkingDir": "/w",
        "Labels": {
            "10": "x",
            "9": "y",
            "a": "1",
            "b": "2"
        },
        "StopSignal": "SIGTERM",
        "ArgsEscaped": true
    },
    "rootfs": {
        "type": "layers",
        "diff_ids": []
    },
    "history": [
        {
            "created": "2023-11-14T22:13:20.5+01:00",
            "created_by": "x \\u003c\\u0026\\u003e \\u2028 \\u0008 \\u000c \\u0001 é",
            "author": "a",
            "comment": "c",
            "empty_layer": true
        }
    ]
}
`;
    assert.equal(configJson(config), expected);
  });

  test('inspect --config of a minimal config keeps the empty config struct and null diff_ids', () => {
    assert.equal(
      configJson({ architecture: 'amd64', os: 'linux' } as never),
      '{\n    "architecture": "amd64",\n    "os": "linux",\n    "config": {},\n    "rootfs": {\n        "type": "",\n        "diff_ids": null\n    }\n}\n',
    );
  });

  test('inspect output: skopeo field order, sorted labels, null Env', () => {
    const out = inspectJson({
      Digest: D1,
      RepoTags: [],
      Created: '2023-11-14T22:13:20Z',
      DockerVersion: '',
      Labels: { b: '<2>', a: '1' },
      Architecture: 'amd64',
      Os: 'linux',
      Layers: [D2],
      LayersData: [{ MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: D2, Size: 10, Annotations: null }],
      Env: null,
    });
    assert.equal(
      out,
      `{
    "Digest": "${D1}",
    "RepoTags": [],
    "Created": "2023-11-14T22:13:20Z",
    "DockerVersion": "",
    "Labels": {
        "a": "1",
        "b": "\\u003c2\\u003e"
    },
    "Architecture": "amd64",
    "Os": "linux",
    "Layers": [
        "${D2}"
    ],
    "LayersData": [
        {
            "MIMEType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "Digest": "${D2}",
            "Size": 10,
            "Annotations": null
        }
    ],
    "Env": null
}
`,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('human formats', () => {
  test('sizes', () => {
    assert.equal(humanSize(0), '0 B');
    assert.equal(humanSize(1023), '1023 B');
    assert.equal(humanSize(1024), '1.0 KiB');
    assert.equal(humanSize(12.3 * 1024 * 1024), '12.3 MiB');
    assert.equal(humanSize(1048575), '1.0 MiB');
    assert.equal(humanSize(51126499), '48.8 MiB');
    assert.equal(humanSize(-1), '?');
  });
  test('ages and shell words', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    assert.equal(humanAge('2023-12-31T23:59:58Z', now), 'just now');
    assert.equal(humanAge('2023-12-31T22:00:00Z', now), '2 hours ago');
    assert.equal(humanAge('2022-01-01T00:00:00Z', now), '2 years ago');
    assert.equal(shellWords(['/bin/sh', '-c', "echo 'hi' there"]), `/bin/sh -c 'echo '\\''hi'\\'' there'`);
  });
});

// ---------------------------------------------------------------------------------------------------------------

const EVENTS: CopyEvent[] = [
  { type: 'copy-start', source: 'oci:/a:latest', destination: 'oci:/b:latest' },
  { type: 'blob-start', digest: D1, size: 12.3 * 1024 * 1024, kind: 'layer' },
  { type: 'blob-progress', digest: D1, bytes: 1024 * 1024, size: 12.3 * 1024 * 1024 },
  { type: 'blob-progress', digest: D1, bytes: 12.3 * 1024 * 1024, size: 12.3 * 1024 * 1024 },
  { type: 'blob-done', digest: D1, written: D1, size: 12.3 * 1024 * 1024 },
  { type: 'blob-skipped', digest: D2, size: 2048, kind: 'layer' },
  { type: 'blob-start', digest: D3, size: 512, kind: 'config' },
  { type: 'blob-done', digest: D3, written: D3, size: 512 },
  { type: 'manifest-written', digest: DM, mediaType: 'application/vnd.oci.image.manifest.v1+json', instance: false },
  { type: 'copy-done', digest: DM },
];

describe('progress renderer', () => {
  test('not a TTY: one line per event, no ANSI, no byte counts', () => {
    const sink = new Sink();
    const r = new ProgressRenderer({ out: sink, isTTY: false });
    for (const e of EVENTS) r.handle(e);
    r.finish();
    assert.deepEqual(sink.text.split('\n'), [
      'Copying oci:/a:latest to oci:/b:latest',
      `Copying blob ${D1} (12.3 MiB)`,
      `Copied blob ${D1} (12.3 MiB)`,
      `Skipped blob ${D2} (already present)`,
      `Copying config ${D3} (512 B)`,
      `Copied config ${D3} (512 B)`,
      `Writing manifest ${DM}`,
      `Copied image ${DM}`,
      '',
    ]);
    assert.doesNotMatch(sink.text, /\x1b/);
  });

  test('not a TTY: recompressed blobs, indexes, unknown sizes', () => {
    const sink = new Sink();
    const r = new ProgressRenderer({ out: sink, isTTY: false });
    r.handle({ type: 'blob-start', digest: D1, size: -1, kind: 'layer' });
    r.handle({ type: 'blob-done', digest: D1, written: D2, size: 100 });
    r.handle({ type: 'manifest-written', digest: D3, mediaType: 'application/vnd.oci.image.manifest.v1+json', instance: true });
    r.handle({ type: 'manifest-written', digest: DM, mediaType: 'application/vnd.oci.image.index.v1+json', instance: false });
    assert.deepEqual(sink.text.trimEnd().split('\n'), [
      `Copying blob ${D1}`,
      `Copied blob ${D1} as ${D2} (100 B)`,
      `Writing manifest ${D3} (index member)`,
      `Writing index ${DM}`,
    ]);
  });

  test('TTY: bars redrawn in place, throttled, final lines below', () => {
    const sink = new Sink();
    let clock = 1000;
    const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
    const r = new ProgressRenderer({
      out: sink,
      isTTY: true,
      columns: 100,
      now: () => clock,
      setTimer: (fn, ms) => {
        const t = { fn, ms, cancelled: false };
        timers.push(t);
        return () => void (t.cancelled = true);
      },
    });
    const writes = (): number => sink.text.split('\x1b[2K').length - 1;
    r.handle(EVENTS[0]!);
    assert.equal(sink.text, 'Copying oci:/a:latest to oci:/b:latest\n');
    r.handle(EVENTS[1]!); // blob-start: first draw, immediately
    assert.equal(writes(), 1);
    assert.match(sink.text, /Copying blob aaaaaaaaaaaa \[ +\] 0 B \/ 12\.3 MiB  0%/);
    clock += 10;
    r.handle(EVENTS[2]!); // within 100 ms: deferred
    assert.equal(writes(), 1);
    assert.equal(timers.length, 1);
    assert.equal(timers[0]!.ms, 90);
    for (let i = 0; i < 50; i++) r.handle({ type: 'blob-progress', digest: D1, bytes: 2 * 1024 * 1024, size: 12.3 * 1024 * 1024 });
    assert.equal(writes(), 1, 'a burst of events does not redraw');
    assert.equal(timers.length, 1, 'one pending redraw at most');
    clock += 490;
    timers[0]!.fn(); // the deferred redraw
    assert.equal(writes(), 2);
    const last = sink.text.slice(sink.text.lastIndexOf('\x1b[1A'));
    assert.match(last, /^\x1b\[1A\r\x1b\[2KCopying blob aaaaaaaaaaaa \[=+> +\] 2\.0 MiB \/ 12\.3 MiB  4\.0 MiB\/s  16%\n$/);
    clock += 200;
    for (const e of EVENTS.slice(3, 8)) r.handle(e);
    clock += 200;
    r.handle(EVENTS[8]!); // manifest: flush the bars, then a permanent line
    r.handle(EVENTS[9]!);
    r.finish();
    const screen = render(sink.text);
    assert.deepEqual(screen, [
      'Copying oci:/a:latest to oci:/b:latest',
      'Copying blob aaaaaaaaaaaa done  12.3 MiB',
      'Copying blob bbbbbbbbbbbb skipped: already exists',
      'Copying config cccccccccccc done  512 B',
      `Writing manifest ${DM}`,
      `Copied image ${DM}`,
    ]);
    // At most one redraw per 100 ms of the fake clock, plus the forced one before the manifest line.
    const redraws = sink.text.split('\x1b[').filter((s) => /^\d+A/.test(s)).length;
    assert.ok(redraws <= 3, `redraws: ${redraws}`);
  });

  test('TTY: finished bars leave the redrawn group, so it stays as small as the blobs in flight', () => {
    const sink = new Sink();
    const r = new ProgressRenderer({ out: sink, isTTY: true, now: () => 0, minIntervalMs: 0 });
    const digest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}` as Digest;
    r.handle({ type: 'blob-start', digest: D1, size: 1000, kind: 'layer' }); // a slow one, first
    for (let i = 1; i <= 40; i++) {
      r.handle({ type: 'blob-start', digest: digest(i), size: 10, kind: 'layer' });
      r.handle({ type: 'blob-done', digest: digest(i), written: digest(i), size: 10 });
    }
    r.handle({ type: 'blob-progress', digest: D1, bytes: 500, size: 1000 });
    r.finish();
    const ups = [...sink.text.matchAll(/\x1b\[(\d+)A/g)].map((m) => Number(m[1]));
    assert.ok(Math.max(...ups) <= 2, `cursor moved up by ${Math.max(...ups)} lines at most`);
    const screen = render(sink.text);
    assert.equal(screen.length, 41);
    assert.match(screen[0]!, /Copying blob 000000000000 done/);
    assert.match(screen[40]!, /Copying blob aaaaaaaaaaaa \[=+> +\] 500 B \/ 1000 B  50%/);
  });

  test('TTY: lines are cut to the terminal width; log() prints above the bars', () => {
    const sink = new Sink();
    const r = new ProgressRenderer({ out: sink, isTTY: true, columns: 40, now: () => 0, minIntervalMs: 0 });
    r.handle({ type: 'blob-start', digest: D1, size: 1 << 30, kind: 'layer' });
    r.log('wharf: warning: careful');
    r.finish();
    for (const line of sink.text.split('\n')) assert.ok(line.replace(/\x1b\[[0-9]*[A-Za-z]|\r/g, '').length < 40, line);
    assert.deepEqual(render(sink.text)[0], 'wharf: warning: careful');
  });
});

/** A tiny terminal emulator for what the renderer emits: \r, \n, ESC[nA, ESC[2K, ESC[J. Returns the screen lines. */
function render(out: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  for (let i = 0; i < out.length; i++) {
    const ch = out[i]!;
    if (ch === '\x1b') {
      const m = /^\x1b\[(\d*)([A-Za-z])/.exec(out.slice(i))!;
      const n = Number(m[1] || '1');
      if (m[2] === 'A') row = Math.max(0, row - n);
      else if (m[2] === 'K') lines[row] = '';
      else if (m[2] === 'J') lines.length = row + 1, (lines[row] = '');
      i += m[0].length - 1;
    } else if (ch === '\r') {
      /* column 0: lines are always rewritten whole after \r ESC[2K */
    } else if (ch === '\n') {
      row++;
      if (lines[row] === undefined) lines[row] = '';
    } else {
      lines[row] = (lines[row] ?? '') + ch;
    }
  }
  return lines.filter((l, i) => !(i === lines.length - 1 && l === ''));
}

// ---------------------------------------------------------------------------------------------------------------
describe('exit codes', () => {
  // A Record over ErrorCode: adding a code without deciding its exit code fails to compile.
  const expected: Record<ErrorCode, number> = {
    INVALID_REFERENCE: 2,
    UNKNOWN_TRANSPORT: 2,
    USAGE: 2,
    INVALID_DIGEST: 1,
    DIGEST_MISMATCH: 4,
    SIZE_MISMATCH: 4,
    MANIFEST_INVALID: 1,
    MANIFEST_UNSUPPORTED: 1,
    MANIFEST_UNKNOWN: 3,
    CONFIG_INVALID: 1,
    BLOB_UNKNOWN: 3,
    IMAGE_NOT_FOUND: 3,
    PLATFORM_NOT_FOUND: 3,
    PATH_NOT_FOUND: 3,
    TOO_LARGE: 1,
    LAYOUT_INVALID: 1,
    ARCHIVE_INVALID: 1,
    TAR_INVALID: 1,
    UNSUPPORTED: 1,
    CONVERSION_UNSUPPORTED: 1,
    COMPRESSION_UNAVAILABLE: 1,
    DESTINATION_EXISTS: 1,
    LOCK_TIMEOUT: 1,
    IO_ERROR: 1,
    ABORTED: 130,
    AUTH_FAILED: 5,
    DENIED: 5,
    NETWORK_ERROR: 1,
    TIMEOUT: 1,
    REGISTRY_ERROR: 1,
    TOO_MANY_REDIRECTS: 1,
    RATE_LIMITED: 1,
    AUTH_FILE_INVALID: 1,
    CREDENTIAL_HELPER_FAILED: 1,
    REGISTRIES_CONF_INVALID: 1,
    REGISTRY_BLOCKED: 1,
    CERTS_INVALID: 1,
    SERVER_CONFIG_INVALID: 1,
    RPMDB_INVALID: 1,
    VERSION_INVALID: 1,
    LAYER_INVALID: 4,
  };
  for (const [code, exit] of Object.entries(expected)) {
    test(`${code} → ${exit}`, () => {
      assert.equal(exitCodeForCode(code as ErrorCode), exit);
      assert.equal(exitCodeFor(new WharfError(code as ErrorCode, 'x')), exit);
    });
  }
  test('non-wharf errors', () => {
    assert.equal(exitCodeFor(new Error('boom')), ExitCode.FAILED);
    assert.equal(exitCodeFor(Object.assign(new Error('aborted'), { name: 'AbortError' })), ExitCode.INTERRUPTED);
  });
});

// ---------------------------------------------------------------------------------------------------------------
interface FakeCall {
  fn: string;
  args: unknown[];
}

function fakeRef(s: string): ImageReference {
  if (!/^(oci|dir|docker-archive|oci-archive):./.test(s)) {
    throw new WharfError('INVALID_REFERENCE', `invalid reference "${s}"`, { hint: 'write transport:location' });
  }
  return { toString: () => s } as unknown as ImageReference;
}

function fakeLib(overrides: Partial<CliLibrary> = {}): { lib: CliLibrary; calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const lib: CliLibrary = {
    VERSION: '9.9.9',
    parseReference: (s) => fakeRef(s),
    inspect: async (ref, opts) => {
      calls.push({ fn: 'inspect', args: [String(ref), opts] });
      return INSPECT_RESULT;
    },
    copy: async (src, dest, opts?: CopyOptions): Promise<CopyResult> => {
      calls.push({ fn: 'copy', args: [String(src), String(dest), opts] });
      for (const e of EVENTS) opts?.onEvent?.(e);
      opts?.logger?.warn('something to know');
      return { digest: DM, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytesWritten: 123, blobsCopied: 2, blobsSkipped: 1 };
    },
    manifestDigest: (bytes) => {
      calls.push({ fn: 'manifestDigest', args: [bytes.toString()] });
      return digestOf(bytes);
    },
    ...overrides,
  };
  return { lib, calls };
}

const IMAGE_MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const DI = digestOf(IMAGE_MANIFEST);

const INSPECT_RESULT: InspectResult = {
  output: {
    Digest: DM,
    RepoTags: [],
    Created: '2023-11-14T22:13:20Z',
    DockerVersion: '',
    Labels: { 'com.example.team': 'wharf' },
    Architecture: 'amd64',
    Os: 'linux',
    Layers: [D1, D2],
    LayersData: [
      { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: D1, Size: 51126499, Annotations: null },
      { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: D2, Size: 2048, Annotations: null },
    ],
    Env: ['PATH=/usr/bin', 'A=b c'],
  },
  rawManifest: Buffer.from('{"schemaVersion":2}'),
  rawMediaType: 'application/vnd.oci.image.index.v1+json',
  imageManifest: IMAGE_MANIFEST,
  imageMediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: {
    created: '2023-11-14T22:13:20Z',
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: 'app',
      Env: ['PATH=/usr/bin', 'A=b c'],
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo hi'],
      WorkingDir: '/app',
      ExposedPorts: { '8080/tcp': {}, '443/tcp': {} },
      Volumes: { '/data': {} },
      Labels: { 'com.example.team': 'wharf' },
    },
    rootfs: { type: 'layers', diff_ids: [D3] },
  },
  platforms: [
    { platform: { os: 'linux', architecture: 'amd64' }, digest: DI, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400 },
    { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, digest: D2, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400 },
  ],
};

async function cli(argv: string[], lib: CliLibrary, opts: { tty?: boolean; cwd?: string; signal?: AbortSignal } = {}) {
  const stdout = new Sink();
  const stderr = new Sink();
  stderr.isTTY = opts.tty ?? false;
  const io: CliIO = { stdout, stderr, env: {}, cwd: opts.cwd ?? process.cwd(), now: () => Date.parse('2024-01-01T00:00:00Z'), ...(opts.signal ? { signal: opts.signal } : {}) };
  const code = await run(argv, io, lib);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('wharf command', () => {
  test('--version and --help', async () => {
    const { lib } = fakeLib();
    assert.deepEqual(await cli(['--version'], lib), { code: 0, stdout: 'wharf version 9.9.9\n', stderr: '' });
    const help = await cli(['--help'], lib);
    assert.equal(help.code, 0);
    for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`\\n  ${c.name} `));
    assert.match(help.stdout, /Exit codes:[\s\S]*130/);
    assert.deepEqual(await cli(['help'], lib), help);
  });

  test('every command has help with flags, an example and the exit codes', async () => {
    const { lib } = fakeLib();
    for (const c of COMMANDS) {
      const r = await cli([c.name, '--help'], lib);
      assert.equal(r.code, 0, c.name);
      assert.match(r.stdout, new RegExp(`Usage:\\n  wharf ${c.name} `));
      assert.match(r.stdout, /Example/);
      assert.match(r.stdout, /Exit codes:/);
      for (const f of c.flags) assert.ok(r.stdout.includes(`--${f.name}`), `${c.name} help lists --${f.name}`);
      assert.equal((await cli(['help', c.name], lib)).stdout, r.stdout);
      assert.equal(commandHelp(c), r.stdout);
    }
    assert.ok(mainHelp('1', COMMANDS).includes('Example'));
  });

  test('unknown command: exit 2, one-line error and a hint', async () => {
    const { lib } = fakeLib();
    const r = await cli(['cpy', 'a', 'b'], lib);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `wharf: error: unknown command "cpy"\n  hint: did you mean "copy"? run 'wharf --help' for the list of commands\n`);
  });

  test('unknown flag: exit 2 with did-you-mean; a command flag before the command says where it goes', async () => {
    const { lib } = fakeLib();
    let r = await cli(['copy', '--quite', 'oci:a', 'oci:b'], lib);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `wharf: error: unknown flag --quite for 'wharf copy'\n  hint: did you mean --quiet?\n`);
    r = await cli(['--all', 'copy', 'oci:a', 'oci:b'], lib);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /hint: --all is a flag of 'wharf copy', 'wharf logout' and 'wharf sync': put it after the command/);
  });

  test('missing and extra operands', async () => {
    const { lib } = fakeLib();
    let r = await cli(['copy', 'oci:a'], lib);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /'wharf copy' needs SOURCE and DESTINATION, got only 1 operand/);
    assert.match(r.stderr, /hint: usage: wharf copy/);
    r = await cli(['inspect', 'oci:a', 'oci:b'], lib);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /also got "oci:b"/);
    r = await cli([], lib);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no command given/);
  });

  test('a malformed reference is a usage error, found before anything runs', async () => {
    const { lib, calls } = fakeLib();
    const r = await cli(['copy', 'oci:a', 'nope'], lib);
    assert.equal(r.code, 2);
    assert.equal(calls.length, 0);
    assert.equal(r.stderr, 'wharf: error: invalid reference "nope"\n  hint: write transport:location\n');
  });

  test('errors: message and hint, no stack; --debug adds the stack; --json makes them JSON', async () => {
    const fail = async () => {
      throw new WharfError('IMAGE_NOT_FOUND', 'no image tagged "x" in /l', { hint: 'list the tags' });
    };
    const { lib } = fakeLib({ inspect: fail });
    let r = await cli(['inspect', 'oci:/l:x'], lib);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'wharf: error: no image tagged "x" in /l\n  hint: list the tags\n');
    r = await cli(['inspect', '--debug', 'oci:/l:x'], lib);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /hint: list the tags\nWharfError: no image tagged[\s\S]*at /);
    const { lib: lib2 } = fakeLib({ copy: fail });
    r = await cli(['copy', '--json', 'oci:/l:x', 'oci:/m:x'], lib2);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    assert.deepEqual(JSON.parse(r.stderr), { error: { code: 'IMAGE_NOT_FOUND', message: 'no image tagged "x" in /l', hint: 'list the tags' } });
    r = await cli(['copy', '--json', '--bogus'], lib2);
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.stderr).error.code, 'USAGE');
  });

  test('integrity failures exit 4; unexpected errors are internal errors, exit 1', async () => {
    let r = await cli(['copy', 'oci:a', 'oci:b'], fakeLib({ copy: async () => { throw new WharfError('DIGEST_MISMATCH', 'bad blob'); } }).lib);
    assert.equal(r.code, 4);
    r = await cli(['copy', 'oci:a', 'oci:b'], fakeLib({ copy: async () => { throw new TypeError('x is undefined'); } }).lib);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^wharf: error: internal error: x is undefined\n  hint: this is a bug/);
    assert.doesNotMatch(r.stderr, /at /);
  });

  test('interrupted: exit 130, whatever the library threw', async () => {
    const ac = new AbortController();
    const { lib } = fakeLib({
      copy: async (_s, _d, opts) => {
        ac.abort();
        assert.equal(opts?.signal?.aborted, true, 'the signal is passed down');
        throw new Error('stream closed');
      },
    });
    const r = await cli(['copy', 'oci:a', 'oci:b'], lib, { signal: ac.signal });
    assert.equal(r.code, 130);
    assert.match(r.stderr, /^wharf: error: interrupted\n/);
  });

  test('control characters from untrusted content do not reach the terminal raw', async () => {
    const { lib } = fakeLib({ inspect: async () => { throw new WharfError('MANIFEST_INVALID', 'bad \x1b[2J name'); } });
    const r = await cli(['inspect', 'oci:a'], lib);
    assert.equal(r.stderr, 'wharf: error: bad \\x1b[2J name\n');
  });
});

describe('wharf copy', () => {
  const optsOf = async (argv: string[]) => {
    const { lib, calls } = fakeLib();
    const r = await cli(['copy', ...argv, 'oci:/a:latest', 'oci:/b:latest'], lib);
    assert.equal(r.code, 0, r.stderr);
    const opts = calls[0]!.args[2] as CopyOptions;
    const { signal, logger, onEvent, ...rest } = opts;
    assert.ok(signal && logger);
    return { rest, onEvent, r };
  };

  test('flags map to CopyOptions', async () => {
    assert.deepEqual((await optsOf([])).rest, {});
    assert.deepEqual((await optsOf(['-f', 'v2s2'])).rest, { format: 'v2s2' });
    assert.deepEqual((await optsOf(['--format=oci', '--dest-compress-format', 'zstd', '--dest-compress-level', '19'])).rest, {
      format: 'oci',
      compression: 'zstd',
      compressionLevel: 19,
    });
    assert.deepEqual((await optsOf(['--all'])).rest, { all: true });
    assert.deepEqual((await optsOf(['-a'])).rest, { all: true });
    assert.deepEqual((await optsOf(['--multi-arch', 'all'])).rest, { all: true });
    assert.deepEqual((await optsOf(['--multi-arch', 'system'])).rest, {});
    assert.deepEqual((await optsOf(['--platform', 'linux/arm64/v8'])).rest, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    assert.deepEqual((await optsOf(['--platform', 'linux/arm64', '--platform', 'linux/amd64'])).rest, {
      platforms: [
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'amd64' },
      ],
    });
    assert.deepEqual((await optsOf(['--all', '--platform', 'linux/amd64'])).rest, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    assert.deepEqual((await optsOf(['--tmpdir', '/var/tmp/x'])).rest, { tmpDir: '/var/tmp/x' });
  });

  test('bad flag combinations are usage errors', async () => {
    const { lib, calls } = fakeLib();
    for (const argv of [
      ['--format', 'v2s1'],
      ['--dest-compress-format', 'none', '--dest-compress-level', '3'],
      ['--dest-compress-format', 'gzip', '--dest-compress-level', '10'],
      ['--dest-compress-level', '0'],
      ['--all', '--multi-arch', 'system'],
      ['--multi-arch', 'index-only'],
      ['--platform', 'amd64'],
    ]) {
      const r = await cli(['copy', ...argv, 'oci:/a:latest', 'oci:/b:latest'], lib);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /^wharf: error: .+\n  hint: .+\n$/, argv.join(' '));
    }
    assert.equal(calls.length, 0);
  });

  test('non-TTY progress goes to stderr; stdout stays empty', async () => {
    const { r } = await optsOf([]);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^Copying oci:/a:latest to oci:/b:latest\nCopying blob ${D1} \\(12.3 MiB\\)\n`));
    assert.match(r.stderr, /wharf: warning: something to know\n/);
    assert.match(r.stderr, new RegExp(`\nCopied image ${DM}\n`));
  });

  test('TTY progress uses bars', async () => {
    const { lib } = fakeLib();
    const r = await cli(['copy', 'oci:/a:latest', 'oci:/b:latest'], lib, { tty: true });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /\x1b\[2KCopying blob aaaaaaaaaaaa done  12\.3 MiB/);
    assert.match(r.stderr, new RegExp(`Writing manifest ${DM}\n`));
  });

  test('-q prints nothing; --json prints the summary on stdout', async () => {
    const { lib } = fakeLib();
    let r = await cli(['copy', '-q', 'oci:/a:latest', 'oci:/b:latest'], lib, { tty: true });
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
    r = await cli(['copy', '-q', '--json', 'oci:/a:latest', 'oci:/b:latest'], lib);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout), {
      source: 'oci:/a:latest',
      destination: 'oci:/b:latest',
      digest: DM,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      bytesWritten: 123,
      blobsCopied: 2,
      blobsSkipped: 1,
    });
  });

  test('--digestfile writes the digest without a newline, relative to cwd', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { lib } = fakeLib();
    const r = await cli(['copy', '-q', '--digestfile', 'out/../digest', 'oci:/a:latest', 'oci:/b:latest'], lib, { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(dir, 'digest'), 'utf8'), DM);
  });
});

describe('wharf inspect', () => {
  test('default: skopeo JSON; platform and tmpdir passed down', async () => {
    const { lib, calls } = fakeLib();
    const r = await cli(['inspect', '--platform', 'linux/arm64', '--tmpdir', 'scratch', 'oci:/l:x'], lib, { cwd: '/work' });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, inspectJson(INSPECT_RESULT.output));
    const passed = calls[0]!.args[1] as { signal: AbortSignal; logger: unknown };
    assert.deepEqual(passed, { signal: passed.signal, logger: passed.logger, platform: { os: 'linux', architecture: 'arm64' }, tmpDir: '/work/scratch' });
  });

  test('--raw prints the manifest bytes unchanged; --config the config', async () => {
    const { lib } = fakeLib();
    assert.equal((await cli(['inspect', '--raw', 'oci:/l:x'], lib)).stdout, '{"schemaVersion":2}');
    assert.equal((await cli(['inspect', '--config', 'oci:/l:x'], lib)).stdout, configJson(INSPECT_RESULT.config));
    const withRaw = fakeLib({ inspect: async () => ({ ...INSPECT_RESULT, rawConfig: Buffer.from('{"raw":1}') }) as InspectResult });
    assert.equal((await cli(['inspect', '--config', '--raw', 'oci:/l:x'], withRaw.lib)).stdout, '{"raw":1}');
  });

  test('--format table', async () => {
    const { lib } = fakeLib();
    const r = await cli(['inspect', '--format', 'table', 'oci:/l:x'], lib);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, inspectTable('oci:/l:x', INSPECT_RESULT, Date.parse('2024-01-01T00:00:00Z'), DI));
    assert.equal(
      r.stdout,
      `Name:          oci:/l:x
Digest:        ${DM}
Media Type:    application/vnd.oci.image.index.v1+json
Platforms:     linux/amd64     ${DI}  (shown below)
               linux/arm64/v8  ${D2}
Image Digest:  ${DI}
Image Type:    application/vnd.oci.image.manifest.v1+json
Created:       2023-11-14T22:13:20Z (1 month ago)
Image Size:    48.8 MiB in 2 layers
Layers:        48.8 MiB  ${D1}
                2.0 KiB  ${D2}
OS:            linux
Arch:          amd64
User:          app
Env:           PATH=/usr/bin
               A=b c
Entrypoint:    /bin/sh -c
Cmd:           'echo hi'
Working Dir:   /app
Exposed Ports: 443/tcp, 8080/tcp
Volumes:       /data
Labels:        com.example.team=wharf
`,
    );
    const bad = await cli(['inspect', '--format', 'table', '--raw', 'oci:/l:x'], lib);
    assert.equal(bad.code, 2);
  });
});

describe('wharf manifest-digest', () => {
  test('prints the digest of the file', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-cli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'manifest.json'), '{"m":1}');
    const { lib, calls } = fakeLib();
    const r = await cli(['manifest-digest', 'manifest.json'], lib, { cwd: dir });
    assert.deepEqual(r, { code: 0, stdout: `${digestOf('{"m":1}')}\n`, stderr: '' });
    assert.deepEqual(calls[0]!.args, ['{"m":1}']);
    const missing = await cli(['manifest-digest', 'nope.json'], lib, { cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*nope\.json: no such file/);
  });
});
