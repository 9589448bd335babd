/**
 * CycloneDX 1.5, SPDX 2.3 and SARIF 2.1.0 documents of the debian-app scan, checked against what each spec
 * requires: the required fields and their patterns, unique ids, every reference resolving, no secret in the
 * clear. (Not yet a validation against the official JSON schemas: see the issue note.)
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { run } from '../src/cli/app.js';
import type { CliIO } from '../src/cli/types.js';
import * as library from '../src/index.js';
import { Sink } from './helpers/sink.js';

const APP = '/tmp/wharf-fixtures/oci/debian-app';

function fixture(t: TestContext): boolean {
  if (existsSync(APP)) return true;
  t.skip(`the bench fixtures are not in ${APP} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

async function doc(argv: string[]): Promise<{ text: string; json: Record<string, any> }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CliIO = { stdout, stderr, env: {}, cwd: '/' };
  const code = await run(argv, io, library);
  assert.equal(code, 0, stderr.text);
  return { text: stdout.text, json: JSON.parse(stdout.text) as Record<string, any> };
}

test('wharf sbom --format cyclonedx: CycloneDX 1.5 with a component per package, unique bom-refs, purls', async (t) => {
  if (!fixture(t)) return;
  const { json } = await doc(['sbom', '--format', 'cyclonedx', `oci:${APP}:latest`]);
  assert.equal(json.bomFormat, 'CycloneDX');
  assert.equal(json.specVersion, '1.5');
  assert.match(json.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(json.version, 1);
  assert.equal(json.metadata.component.type, 'container');
  assert.ok(!Number.isNaN(Date.parse(json.metadata.timestamp)));
  const comps = json.components as { type: string; name: string; version: string; purl: string; 'bom-ref': string }[];
  assert.ok(comps.length >= 80);
  assert.equal(new Set(comps.map((c) => c['bom-ref'])).size, comps.length, 'bom-refs are unique');
  for (const c of comps) {
    assert.ok(['application', 'framework', 'library', 'container', 'operating-system', 'device', 'firmware', 'file'].includes(c.type));
    assert.ok(c.name.length > 0);
    assert.match(c.purl, /^pkg:deb\/debian\/[a-z0-9.%A-F-]+@[^?]+\?arch=[a-z0-9]+&distro=debian-12$/, c.purl);
  }
  assert.equal(json.vulnerabilities, undefined, 'an SBOM carries no vulnerability data');
});

test('wharf sbom --format spdx-json: SPDX 2.3, the image DESCRIBED, each package CONTAINED, every reference resolving', async (t) => {
  if (!fixture(t)) return;
  const { json } = await doc(['sbom', '--format', 'spdx-json', `oci:${APP}:latest`]);
  assert.equal(json.spdxVersion, 'SPDX-2.3');
  assert.equal(json.dataLicense, 'CC0-1.0');
  assert.equal(json.SPDXID, 'SPDXRef-DOCUMENT');
  assert.ok(new URL(json.documentNamespace));
  assert.match(json.creationInfo.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  assert.match(json.creationInfo.creators[0], /^Tool: wharf-\S+$/);
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const p of json.packages as Record<string, any>[]) {
    assert.match(p.SPDXID, /^SPDXRef-[A-Za-z0-9.-]+$/);
    assert.ok(!ids.has(p.SPDXID), `${p.SPDXID} is unique`);
    ids.add(p.SPDXID);
    for (const field of ['name', 'downloadLocation', 'licenseConcluded', 'licenseDeclared', 'copyrightText']) assert.ok(typeof p[field] === 'string' && p[field].length > 0, `${p.SPDXID}.${field}`);
  }
  for (const r of json.relationships as Record<string, string>[]) {
    assert.ok(ids.has(r.spdxElementId!) && ids.has(r.relatedSpdxElement!), JSON.stringify(r));
    assert.ok(['DESCRIBES', 'CONTAINS'].includes(r.relationshipType!));
  }
  assert.equal((json.relationships as unknown[]).length, (json.packages as unknown[]).length);
});

test('wharf scan --format sarif: SARIF 2.1.0, each result naming its rule by id and index, secrets never in the clear', async (t) => {
  if (!fixture(t)) return;
  const { json, text } = await doc(['scan', '--format', 'sarif', '--db-dir', '/nonexistent-db', `oci:${APP}:latest`]);
  assert.equal(json.version, '2.1.0');
  const runs = json.runs as Record<string, any>[];
  assert.equal(runs.length, 1);
  const driver = runs[0]!.tool.driver;
  assert.equal(driver.name, 'wharf');
  const rules = driver.rules as { id: string }[];
  assert.equal(new Set(rules.map((r) => r.id)).size, rules.length);
  const results = runs[0]!.results as Record<string, any>[];
  assert.ok(results.length > 0);
  for (const r of results) {
    assert.equal(rules[r.ruleIndex]!.id, r.ruleId);
    assert.ok(['error', 'warning', 'note', 'none'].includes(r.level));
    assert.ok(typeof r.message.text === 'string' && r.message.text.length > 0);
    assert.ok(r.locations[0].physicalLocation.artifactLocation.uri.length > 0);
  }
  assert.ok(results.some((r) => r.ruleId === 'aws-access-key-id' && r.locations[0].physicalLocation.region.startLine === 2));
  assert.doesNotMatch(text, /AKIAWHARFBENCHFAKE01|hunter2/);
  const cdx = await doc(['scan', '--format', 'cyclonedx', '--db-dir', '/nonexistent-db', `oci:${APP}:latest`]);
  assert.doesNotMatch(cdx.text, /AKIAWHARFBENCHFAKE01|hunter2/);
});
