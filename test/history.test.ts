/**
 * `wharf history` and the library's history(): docker history's view of an image, from its manifest and config
 * only. Every expectation is derived from the config and manifest the test built (or, for the bench fixture,
 * read from the layout's own files), never from a hard-coded copy of the output.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as library from '../src/index.js';
import { history, WharfError, type ImageHistoryEntry } from '../src/index.js';
import { run } from '../src/cli/app.js';
import { CREATED_BY_WIDTH, SIZE_HEADER, ellipsis, historyTable } from '../src/cli/commands/history.js';
import { humanAge, humanSize, shortDigest } from '../src/cli/format.js';
import type { CliIO, CliLibrary } from '../src/cli/types.js';
import { alignHistory } from '../src/history/history.js';
import type { Descriptor, HistoryEntry, ImageConfig } from '../src/oci/types.js';
import { buildLayout, removeBlob, type BuiltImage, type BuiltLayout } from './helpers/images.js';
import { Sink } from './helpers/sink.js';
import { WHARF_BIN } from './helpers/bin.js';

const BIN = WHARF_BIN;
const FIXTURE = '/tmp/wharf-fixtures/oci/debian-app';

const LONG_RUN =
  'RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/* # buildkit';
const STEPS: HistoryEntry[] = [
  { created: '2021-03-04T05:06:07.123456789Z', created_by: '/bin/sh -c #(nop) ADD file:4f1c1d2e3b in / ' },
  { created: '2021-03-04T05:06:08Z', created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
  { created: '2022-07-01T10:00:00Z', created_by: LONG_RUN, comment: 'buildkit.dockerfile.v0' },
  { created: '2022-07-01T10:00:01Z', created_by: 'ENV APP_ENV=production', comment: 'buildkit.dockerfile.v0', author: 'alice', empty_layer: true },
  { created: '2022-07-01T10:00:02Z', created_by: 'COPY app /app # buildkit', comment: 'buildkit.dockerfile.v0' },
  { created: '2022-07-01T10:00:03Z', created_by: 'LABEL org.example=1', empty_layer: true },
];
const HOSTILE_BY = '/bin/sh -c #(nop) \x1b[31mred\x1b[0m \x1b]0;owned\x07 \x1b[2J\ttab\nnext line';
const HOSTILE_COMMENT = 'c1 \u009b31m csi, bidi \u202eevil\u202c, del \x7f';


/** Three years and a bit after the newest step of STEPS: ages are computed from this clock. */
const NOW = Date.parse('2025-08-01T12:00:00Z');

async function cli(argv: string[], lib: CliLibrary = library) {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CliIO = { stdout, stderr, env: {}, cwd: process.cwd(), now: () => NOW };
  const code = await run(argv, io, lib);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Split a table into cells by the header's column starts (docker's tabwriter pads every column but the last). */
function parseTable(text: string): { header: string[]; rows: string[][] } {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the table ends with a newline');
  const head = lines[0]!;
  const names = ['IMAGE', 'CREATED', 'CREATED BY', SIZE_HEADER, 'COMMENT'];
  // "CREATED" is a prefix of "CREATED BY": find the names in order.
  const starts: number[] = [];
  let at = 0;
  for (const name of names) {
    const i = head.indexOf(name, at);
    assert.ok(i >= 0, `header has ${name}: ${head}`);
    starts.push(i);
    at = i + name.length;
  }
  const cut = (line: string): string[] => {
    const chars = Array.from(line);
    return starts.map((s, i) => chars.slice(s, i + 1 < starts.length ? starts[i + 1] : undefined).join('').trimEnd());
  };
  return { header: cut(head), rows: lines.slice(1).map(cut) };
}

/** What each entry of the image's config history must become, newest first, with its layer (docker's pairing). */
function expected(img: BuiltImage): { h: HistoryEntry; layer: number | undefined }[] {
  const out: { h: HistoryEntry; layer: number | undefined }[] = [];
  let next = 0;
  for (const h of img.config.json.history ?? []) out.push({ h, layer: h.empty_layer ? undefined : next < img.layers.length ? next++ : undefined });
  return out.reverse();
}

function checkAgainstConfig(entries: ImageHistoryEntry[], img: BuiltImage): void {
  const want = expected(img);
  assert.equal(entries.length, want.length);
  entries.forEach((e, i) => {
    const { h, layer } = want[i]!;
    assert.equal(e.createdBy, h.created_by, `entry ${i}`);
    assert.equal(e.created, h.created);
    assert.equal(e.comment, h.comment);
    assert.equal(e.author, h.author);
    assert.equal(e.emptyLayer, h.empty_layer === true);
    assert.equal(e.id, i === 0 ? img.manifest.digest : undefined, 'only the newest entry has the image id');
    if (layer === undefined) {
      assert.equal(e.layer, undefined);
      if (e.emptyLayer) assert.equal(e.size, 0);
    } else {
      assert.equal(e.layer?.digest, img.layers[layer]!.digest);
      assert.equal(e.layer?.index, layer);
      assert.equal(e.layer?.diffId, img.layers[layer]!.diffId);
      assert.equal(e.size, img.layers[layer]!.size, 'the compressed size from the manifest');
    }
  });
}

describe('history', () => {
  let dir: string;
  let layout: BuiltLayout;
  let docker: BuiltLayout;
  const img = (tag: string, n = 0): BuiltImage => layout.ref(tag).images[n]!;
  const ref = (tag: string): string => `oci:${layout.dir}:${tag}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wharf-history-'));
    const three = [[{ path: 'etc/base', content: 'base\n' }], [{ path: 'usr/bin/curl', size: 5000 }], [{ path: 'app/main.js', content: 'hi' }]];
    layout = await buildLayout(join(dir, 'layout'), [
      { tag: 'steps', layers: three, config: { history: STEPS } },
      { tag: 'nohist', layers: three.slice(0, 2), config: { history: [] } },
      // Three steps that made a layer, two layers: docker refuses this; wharf shows it and warns.
      { tag: 'more', layers: three.slice(0, 2), config: { history: [STEPS[0]!, STEPS[1]!, STEPS[2]!, STEPS[4]!] } },
      // One step that made a layer, three layers: docker leaves two out; wharf shows them as <missing>.
      { tag: 'fewer', layers: three, config: { history: [STEPS[0]!, STEPS[1]!] } },
      { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers: [three[0]!], config: { history: [{ created: '2020-01-01T00:00:00Z', created_by: 'amd64 base' }] } },
      {
        tag: 'multi',
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        layers: three.slice(0, 2),
        config: { history: [{ created: '2020-01-02T00:00:00Z', created_by: 'arm64 base' }, { created: '2020-01-03T00:00:00Z', created_by: 'arm64 app' }] },
      },
      {
        tag: 'hostile',
        layers: [three[0]!],
        config: { history: [{ created: '2022-01-01T00:00:00Z', created_by: HOSTILE_BY, comment: HOSTILE_COMMENT, author: '\x1b[5mblink' }] },
      },
    ]);
    docker = await buildLayout(join(dir, 'docker'), [{ tag: 'v2s2', layers: three, config: { history: STEPS } }], { format: 'v2s2' });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('entries follow the config, newest first; empty layers take no layer', async () => {
    const entries = await history(ref('steps'));
    checkAgainstConfig(entries, img('steps'));
    assert.equal(entries.filter((e) => e.emptyLayer).length, STEPS.filter((h) => h.empty_layer).length);
    assert.deepEqual(
      entries.filter((e) => e.layer).map((e) => e.layer!.digest),
      img('steps').layers.map((l) => l.digest).reverse(),
      'every layer once, top first',
    );
  });

  test('a Docker schema 2 image with a Docker config reads the same', async () => {
    const entries = await history(`oci:${docker.dir}:v2s2`);
    checkAgainstConfig(entries, docker.images[0]!);
    assert.equal(entries.find((e) => e.layer)?.layer?.mediaType, docker.images[0]!.layers[0]!.mediaType);
  });

  test('no layer is read: history works with every layer blob gone', async () => {
    const copy = await buildLayout(join(dir, 'nolayers'), [{ tag: 'x', layers: [[{ path: 'a', content: 'a' }], [{ path: 'b', content: 'b' }]], config: { history: STEPS.slice(0, 3) } }]);
    for (const l of copy.images[0]!.layers) await removeBlob(copy.dir, l.digest);
    checkAgainstConfig(await history(`oci:${copy.dir}:x`), copy.images[0]!);
  });

  test('a config without history: one <missing> entry per layer', async () => {
    const warnings: string[] = [];
    const entries = await history(ref('nohist'), { logger: { warn: (m) => warnings.push(m) } });
    const layers = img('nohist').layers;
    assert.equal(entries.length, layers.length);
    entries.forEach((e, i) => {
      const l = layers[layers.length - 1 - i]!;
      assert.equal(e.synthetic, true);
      assert.equal(e.createdBy, undefined);
      assert.equal(e.created, undefined);
      assert.equal(e.emptyLayer, false);
      assert.equal(e.layer?.digest, l.digest);
      assert.equal(e.size, l.size);
    });
    assert.equal(entries[0]!.id, img('nohist').manifest.digest);
    assert.deepEqual(warnings, [], 'no history is normal, not worth a warning');

    // history absent altogether, or not a list (hostile), through the aligner itself.
    const layerDescs: Descriptor[] = layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }));
    const base = { ...img('nohist').config.json } as ImageConfig;
    delete base.history;
    assert.equal(alignHistory(base, layerDescs, 'x').length, layers.length);
    const w: string[] = [];
    const odd = alignHistory({ ...base, history: 'nope' as never }, layerDescs, 'x', { warn: (m) => w.push(m) });
    assert.equal(odd.length, layers.length);
    assert.match(w.join('\n'), /history is not a list/);
    const junk = alignHistory({ ...base, history: [null, 7, { created_by: 42, empty_layer: 'yes' }] as never }, layerDescs, 'x', { warn: () => {} });
    assert.equal(junk.length, 3, 'junk entries are kept as blank steps; the first two made the two layers');
    assert.deepEqual(junk.map((e) => e.createdBy), [undefined, undefined, undefined]);
    assert.deepEqual(junk.map((e) => e.layer?.digest), [layers[0]!.digest, layers[1]!.digest, undefined]);
  });

  test('more steps that made a layer than layers: shown without a layer, with a warning', async () => {
    const warnings: string[] = [];
    const entries = await history(ref('more'), { logger: { warn: (m) => warnings.push(m) } });
    checkAgainstConfig(entries, img('more'));
    const nonEmpty = (img('more').config.json.history ?? []).filter((h) => !h.empty_layer).length;
    const missing = nonEmpty - img('more').layers.length;
    assert.equal(entries.filter((e) => !e.emptyLayer && !e.layer).length, missing);
    assert.equal(entries[0]!.size, undefined, 'the unmatched newest step has no known size');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`${nonEmpty} entries that made a layer but the manifest has ${img('more').layers.length} layers`));
  });

  test('fewer steps that made a layer than layers: the rest shown as <missing> entries, with a warning', async () => {
    const warnings: string[] = [];
    const entries = await history(ref('fewer'), { logger: { warn: (m) => warnings.push(m) } });
    const cfg = img('fewer').config.json.history!;
    const layers = img('fewer').layers;
    const described = cfg.filter((h) => !h.empty_layer).length;
    const extra = layers.length - described;
    assert.equal(entries.length, cfg.length + extra);
    const top = entries.slice(0, extra);
    assert.ok(top.every((e) => e.synthetic && e.createdBy === undefined));
    assert.deepEqual(top.map((e) => e.layer?.digest), layers.slice(described).map((l) => l.digest).reverse());
    assert.deepEqual(entries.slice(extra).map((e) => e.createdBy), cfg.map((h) => h.created_by).reverse());
    assert.deepEqual(
      entries.map((e) => e.layer?.digest).filter(Boolean),
      layers.map((l) => l.digest).reverse(),
      'every layer appears once',
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`manifest has ${layers.length} layers but the config's history describes only ${described}`));
  });

  test('an index: the platform is chosen as inspect chooses it', async () => {
    const [amd, arm] = layout.ref('multi').images;
    checkAgainstConfig(await history(ref('multi'), { platform: { os: 'linux', architecture: 'amd64' } }), amd!);
    checkAgainstConfig(await history(ref('multi'), { platform: { os: 'linux', architecture: 'arm64' } }), arm!);
    const byDefault = await history(ref('multi'));
    const info = await library.inspect(ref('multi'));
    assert.equal(byDefault[0]!.id, library.manifestDigest(info.imageManifest), 'the same image inspect describes by default');
    await assert.rejects(history(ref('multi'), { platform: { os: 'windows', architecture: 'amd64' } }), (err: unknown) => err instanceof WharfError && err.code === 'PLATFORM_NOT_FOUND');
  });

  test('schema 1: the history its manifest carries, throwaway entries as empty layers', async () => {
    const s1 = join(dir, 'schema1');
    await mkdir(s1, { recursive: true });
    const blob = (c: string) => `sha256:${c.repeat(64)}`;
    const v1 = [
      { id: 'c', parent: 'b', created: '2016-03-01T00:00:00Z', container_config: { Cmd: ['/bin/sh', '-c', '#(nop) CMD ["app"]'] }, throwaway: true, os: 'linux', architecture: 'amd64', config: {} },
      { id: 'b', parent: 'a', created: '2016-02-01T00:00:00Z', container_config: { Cmd: ['/bin/sh', '-c', 'apt-get install -y app'] }, author: 'bob', comment: 'built' },
      { id: 'a', created: '2016-01-01T00:00:00Z', container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ADD file:abc in /'] } },
    ];
    const manifest = {
      schemaVersion: 1,
      name: 'library/old',
      tag: 'v1',
      architecture: 'amd64',
      fsLayers: [{ blobSum: blob('e') }, { blobSum: blob('b') }, { blobSum: blob('a') }],
      history: v1.map((h) => ({ v1Compatibility: JSON.stringify(h) })),
    };
    const bytes = JSON.stringify(manifest);
    await writeFile(join(s1, 'manifest.json'), bytes);
    await writeFile(join(s1, 'version'), 'Directory Transport Version: 1.1\n');
    const entries = await history(`dir:${s1}`);
    assert.equal(entries.length, v1.length);
    entries.forEach((e, i) => {
      const h = v1[i]!;
      assert.equal(e.created, h.created);
      assert.equal(e.createdBy, h.container_config.Cmd.join(' '));
      assert.equal(e.author, h.author);
      assert.equal(e.comment, h.comment);
      assert.equal(e.emptyLayer, h.throwaway === true);
      assert.equal(e.layer?.digest, h.throwaway ? undefined : manifest.fsLayers[i]!.blobSum);
      assert.equal(e.size, h.throwaway ? 0 : undefined, 'schema 1 has no sizes');
    });
    assert.equal(entries[0]!.id, library.manifestDigest(Buffer.from(bytes)));
    const table = parseTable((await cli(['history', `dir:${s1}`])).stdout);
    assert.deepEqual(table.rows.map((r) => r[3]), entries.map((e) => (e.size === undefined ? '?' : humanSize(e.size))));
  });

  test('the bench fixture debian-app: every line is what its config says', async (t) => {
    if (!existsSync(FIXTURE)) {
      t.skip(`${FIXTURE} does not exist (made by ../shared/bench/make-fixtures.sh)`);
      return;
    }
    const blob = (d: string) => readFile(join(FIXTURE, 'blobs', 'sha256', d.slice(7)));
    const index = JSON.parse(await readFile(join(FIXTURE, 'index.json'), 'utf8'));
    const desc = index.manifests.find((m: Descriptor) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest');
    const manifest = JSON.parse((await blob(desc.digest)).toString());
    const config = JSON.parse((await blob(manifest.config.digest)).toString()) as ImageConfig;
    const entries = await history(`oci:${FIXTURE}:latest`);
    const steps = [...(config.history ?? [])].reverse();
    assert.equal(entries.length, steps.length);
    assert.deepEqual(entries.map((e) => e.createdBy), steps.map((h) => h.created_by));
    assert.deepEqual(entries.map((e) => e.created), steps.map((h) => h.created));
    assert.deepEqual(entries.map((e) => e.emptyLayer), steps.map((h) => h.empty_layer === true));
    assert.deepEqual(entries.filter((e) => e.layer).map((e) => [e.layer!.digest, e.size, e.layer!.diffId]), [...manifest.layers].reverse().map((l: Descriptor, i: number) => [l.digest, l.size, config.rootfs.diff_ids[manifest.layers.length - 1 - i]]));
    assert.equal(entries[0]!.id, desc.digest);

    const r = await cli(['history', `oci:${FIXTURE}:latest`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const table = parseTable(r.stdout);
    assert.deepEqual(table.rows.map((row) => row[0]), entries.map((_, i) => (i === 0 ? shortDigest(desc.digest) : '<missing>')));
    assert.deepEqual(table.rows.map((row) => row[1]), steps.map((h) => humanAge(h.created!, NOW)));
    assert.deepEqual(table.rows.map((row) => row[2]), steps.map((h) => ellipsis(h.created_by ?? '', CREATED_BY_WIDTH).trimEnd()));
    assert.deepEqual(table.rows.map((row) => row[3]), entries.map((e) => humanSize(e.size!)));
  });

  describe('wharf history', () => {
    test('the table: docker history columns, ages from the clock, compressed sizes, truncated CREATED BY', async () => {
      const r = await cli(['history', ref('steps')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const { header, rows } = parseTable(r.stdout);
      assert.deepEqual(header, ['IMAGE', 'CREATED', 'CREATED BY', SIZE_HEADER, 'COMMENT']);
      const want = expected(img('steps'));
      assert.equal(rows.length, want.length);
      rows.forEach((row, i) => {
        const { h, layer } = want[i]!;
        assert.equal(row[0], i === 0 ? shortDigest(img('steps').manifest.digest) : '<missing>');
        assert.equal(row[1], humanAge(h.created!, NOW));
        assert.match(row[1]!, /^\d+ (year|month)s? ago$/);
        const by = h.created_by!;
        // (cells are read back trimmed: a trailing blank of created_by, as ADD lines have, is kept but invisible)
        assert.equal(row[2], (by.length > CREATED_BY_WIDTH ? `${by.slice(0, CREATED_BY_WIDTH - 1)}…` : by).trimEnd());
        assert.ok(Array.from(row[2]!).length <= CREATED_BY_WIDTH);
        assert.equal(row[3], humanSize(layer === undefined ? 0 : img('steps').layers[layer]!.size));
        assert.equal(row[4], h.comment ?? '');
      });
      assert.ok(rows.some((row) => row[2]!.endsWith('…')), 'the long RUN line was cut');
      assert.ok(rows.some((row) => row[2] === '/bin/sh -c #(nop)  CMD ["bash"]'), 'the #(nop) prefix is kept as docker keeps it');
      // Columns are aligned: every row is padded to the header's column starts.
      const lines = r.stdout.split('\n');
      const at = lines[0]!.indexOf('CREATED BY');
      for (const line of lines.slice(1, -1)) assert.equal(line[at - 1], ' ');
    });

    test('--no-trunc: full CREATED BY and full digests; --human=false: RFC 3339 and bytes', async () => {
      const r = await cli(['history', '--no-trunc', '--human=false', ref('steps')]);
      assert.equal(r.code, 0, r.stderr);
      const { rows } = parseTable(r.stdout);
      const want = expected(img('steps'));
      rows.forEach((row, i) => {
        const { h, layer } = want[i]!;
        assert.equal(row[0], i === 0 ? img('steps').manifest.digest : '<missing>');
        assert.equal(row[1], new Date(Math.floor(Date.parse(h.created!) / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
        assert.equal(row[2], h.created_by!.trimEnd());
        assert.equal(row[3], String(layer === undefined ? 0 : img('steps').layers[layer]!.size));
      });
      assert.ok(rows.some((row) => row[2] === LONG_RUN));
      const h = await cli(['history', '-H=false', ref('steps')]);
      assert.equal(parseTable(h.stdout).rows[0]![1], '2022-07-01T10:00:03Z');
    });

    test('-q prints only the IDs, as docker does (<missing> included)', async () => {
      const r = await cli(['history', '-q', ref('steps')]);
      assert.equal(r.code, 0, r.stderr);
      const n = img('steps').config.json.history!.length;
      assert.equal(r.stdout, [shortDigest(img('steps').manifest.digest), ...Array(n - 1).fill('<missing>')].join('\n') + '\n');
      const full = await cli(['history', '-q', '--no-trunc', ref('steps')]);
      assert.equal(full.stdout.split('\n')[0], img('steps').manifest.digest);
    });

    test('--json: the library entries as a JSON array', async () => {
      const r = await cli(['history', '--json', ref('steps')]);
      assert.equal(r.code, 0, r.stderr);
      const parsed = JSON.parse(r.stdout) as ImageHistoryEntry[];
      assert.deepEqual(parsed, await history(ref('steps')));
      checkAgainstConfig(parsed, img('steps'));
    });

    test('no history, mismatched counts, schema of warnings on stderr', async () => {
      const r = await cli(['history', ref('nohist')]);
      assert.equal(r.code, 0, r.stderr);
      const { rows } = parseTable(r.stdout);
      assert.equal(rows.length, img('nohist').layers.length);
      assert.ok(rows.every((row) => row[2] === '<missing>' && row[1] === '<missing>'));
      assert.deepEqual(rows.map((row) => row[3]), img('nohist').layers.map((l) => humanSize(l.size)).reverse());

      const more = await cli(['history', ref('more')]);
      assert.equal(more.code, 0);
      assert.match(more.stderr, /^wharf: warning: .*entries that made a layer but the manifest has 2 layers/);
      assert.equal(parseTable(more.stdout).rows[0]![3], '?', 'an unmatched step has no size');
      const fewer = await cli(['history', ref('fewer')]);
      assert.equal(fewer.code, 0);
      assert.match(fewer.stderr, /^wharf: warning: .*shown as <missing> entries\n$/);
    });

    test('--platform picks an image of an index; errors have the usual exit codes', async () => {
      const [, arm] = layout.ref('multi').images;
      const r = await cli(['history', '--platform', 'linux/arm64/v8', '--json', ref('multi')]);
      assert.equal(r.code, 0, r.stderr);
      checkAgainstConfig(JSON.parse(r.stdout), arm!);

      const none = await cli(['history', '--platform', 'windows/amd64', ref('multi')]);
      assert.equal(none.code, 3);
      assert.equal(none.stdout, '');
      assert.match(none.stderr, /^wharf: error: no image for windows\/amd64 in the index/);
      const bad = await cli(['history', '--platform', 'linux', ref('multi')]);
      assert.equal(bad.code, 2);
      const missing = await cli(['history', `oci:${layout.dir}:nope`]);
      assert.equal(missing.code, 3);
      const json = await cli(['history', '--json', `oci:${layout.dir}:nope`]);
      assert.equal(json.code, 3);
      assert.equal(json.stdout, '');
      assert.equal(JSON.parse(json.stderr).error.code, 'IMAGE_NOT_FOUND');
      assert.equal((await cli(['history'])).code, 2);
      assert.equal((await cli(['history', 'a', 'b'])).code, 2);
      assert.equal((await cli(['history', 'nosuch:x'])).code, 2);
    });

    test('hostile strings: ANSI escapes, line breaks, C1 controls and bidi overrides are neutralised', async () => {
      for (const flags of [[], ['--no-trunc'], ['--human=false', '--no-trunc']]) {
        const r = await cli(['history', ...flags, ref('hostile')]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, `no control character reaches the terminal (${flags})`);
        assert.equal(r.stdout.split('\n').length, 3, 'the newline in created_by does not start a row');
        assert.match(r.stdout, /\\x1b\[31mred/, 'the escape is shown, not acted on');
      }
      const full = parseTable((await cli(['history', '--no-trunc', ref('hostile')])).stdout);
      assert.equal(full.rows[0]![2], '/bin/sh -c #(nop) \\x1b[31mred\\x1b[0m \\x1b]0;owned\\x07 \\x1b[2J tab\\nnext line');
      assert.match(full.rows[0]![4]!, /^c1 \\x9b31m csi, bidi \\u202eevil\\u202c, del \\x7f$/);

      const j = await cli(['history', '--json', ref('hostile')]);
      assert.doesNotMatch(j.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, 'JSON escapes every control character');
      const parsed = JSON.parse(j.stdout) as ImageHistoryEntry[];
      assert.equal(parsed[0]!.createdBy, HOSTILE_BY, 'and parses back to the exact string');
      assert.equal(parsed[0]!.comment, HOSTILE_COMMENT);
      assert.equal(parsed[0]!.author, '\x1b[5mblink');
    });

    test('an injected library: its history() is called with the platform; warnings through the logger', async () => {
      let seen: unknown;
      const entries: ImageHistoryEntry[] = [
        { id: `sha256:${'f'.repeat(64)}`, createdBy: 'x', emptyLayer: false, size: 2048, synthetic: true },
        { created: 'garbage', createdBy: 'y', emptyLayer: true, size: 0 },
      ];
      const lib = {
        ...library,
        history: async (r: unknown, o: { platform?: unknown; logger?: { warn(m: string): void } }) => {
          seen = [String(r), o.platform];
          o.logger?.warn('careful \x1b[1m');
          return entries;
        },
      } as CliLibrary;
      const r = await cli(['history', '--platform', 'linux/arm64', 'oci:/somewhere:tag'], lib);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(seen, ['oci:/somewhere:tag', { os: 'linux', architecture: 'arm64' }]);
      assert.equal(r.stderr, 'wharf: warning: careful \\x1b[1m\n');
      const { rows } = parseTable(r.stdout);
      assert.deepEqual(rows, [
        ['ffffffffffff', '<missing>', '<missing>', '2.0 KiB', ''],
        ['<missing>', 'garbage', 'y', '0 B', ''],
      ]);
      assert.equal(historyTable([], { now: NOW }).split('\n')[0]!.replace(/ +/g, ' '), `IMAGE CREATED CREATED BY ${SIZE_HEADER} COMMENT`);
    });

    test('--help lists the flags and examples', async () => {
      const r = await cli(['history', '--help']);
      assert.equal(r.code, 0);
      for (const f of ['--no-trunc', '--json', '--human', '--quiet', '--platform', '--creds', '--tls-verify']) assert.ok(r.stdout.includes(f), f);
      assert.match(r.stdout, /Examples:\n {2}wharf history /);
      assert.match(r.stdout, /uncompressed/);
      assert.match((await cli(['--help'])).stdout, /\n {2}history +Show the steps/);
    });

    test('the bin prints the same table', async () => {
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'history', '--human=false', ref('steps')], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (b: Buffer) => (stdout += b));
        child.stderr.on('data', (b: Buffer) => (stderr += b));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, (await cli(['history', '--human=false', ref('steps')])).stdout, 'with --human=false nothing depends on the clock');
    });
  });
});
