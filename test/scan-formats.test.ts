/**
 * CycloneDX 1.5, SPDX 2.3 and SARIF 2.1.0 documents of the debian-app scan, checked against what each spec
 * requires: the required fields and their patterns, unique ids, every reference resolving, no secret in the
 * clear. The CycloneDX and SARIF documents are also validated against the formats' own JSON schemas, as their
 * npm packages ship them (devDependencies, loaded from node_modules):
 *   - CycloneDX 1.5: @cyclonedx/cyclonedx-library res/schema/bom-1.5.SNAPSHOT.schema.json (draft-07, $id
 *     http://cyclonedx.org/schema/bom-1.5.schema.json), which $refs spdx.SNAPSHOT.schema.json (the license ids)
 *     and jsf-0.82.SNAPSHOT.schema.json (signatures) beside it;
 *   - SARIF 2.1.0: @microsoft/jest-sarif (the SARIF SDK's) lib/schemas/sarif-2.1.0-rtm.5.json (draft-04, id
 *     https://raw.githubusercontent.com/schemastore/schemastore/master/src/schemas/json/sarif-2.1.0-rtm.5.json).
 * No npm package ships the SPDX 2.3 JSON schema (spdx-spec's schemas/spdx-schema-2-3.json), so the SPDX document is
 * checked by hand against that schema's rules for the objects wharf writes (assertSpdxClosedWorld).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Ajv, type AnySchemaObject, type ValidateFunction } from 'ajv';
import AjvDraft04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { toSarif } from '../src/scan/report-formats.js';
import type { ScanReport } from '../src/scan/scan.js';
import { tempDir } from './helpers/peers.js';
import { runCli, type CliRun } from './helpers/run-cli.js';

// CommonJS modules whose module.exports is the class or plugin itself; `.default` is that same value, typed.
const AjvDraft04 = AjvDraft04Module.default;
const addFormats = addFormatsModule.default;

const APP = '/tmp/wharf-fixtures/oci/debian-app';

function fixture(t: TestContext): boolean {
  if (existsSync(APP)) return true;
  t.skip(`the bench fixtures are not in ${APP} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

function cli(argv: string[], cwd = '/'): Promise<CliRun> {
  return runCli(argv, { cwd });
}

async function doc(argv: string[]): Promise<{ text: string; json: Record<string, any> }> {
  const r = await cli(argv);
  assert.equal(r.code, 0, r.stderr);
  return { text: r.stdout, json: JSON.parse(r.stdout) as Record<string, any> };
}

/** A package's folder in node_modules (devDependencies), found the way Node resolves it from this file. */
function packageDir(name: string): string {
  return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
}

function readSchema(path: string): AnySchemaObject {
  return JSON.parse(readFileSync(path, 'utf8')) as AnySchemaObject;
}

/**
 * Ajv lacks two draft-07 formats the CycloneDX schema uses. Each is checked by the mapping its RFC defines onto
 * a format Ajv has: an IRI is a URI once its non-ASCII characters are percent-encoded as UTF-8 (RFC 3987 §3.1);
 * an internationalised address is an address whose non-ASCII characters stand where ASCII atext or a label's
 * letters may (RFC 6531 §3.3).
 */
function addIriFormats(ajv: Ajv): void {
  const uriReference = fullFormats['uri-reference'] as RegExp;
  const email = fullFormats.email as RegExp;
  ajv.addFormat('iri-reference', (s: string) => uriReference.test(s.replace(/[^\0-\x7f]/gu, (c) => encodeURIComponent(c))));
  ajv.addFormat('idn-email', (s: string) => email.test(s.replace(/[^\0-\x7f]/gu, 'x')));
}

let cycloneDxValidator: ValidateFunction | undefined;
/** The CycloneDX 1.5 JSON schema (draft-07), with the two schemas it $refs under the names it uses for them. */
function cycloneDx15(): ValidateFunction {
  if (cycloneDxValidator) return cycloneDxValidator;
  const dir = join(packageDir('@cyclonedx/cyclonedx-library'), 'res', 'schema');
  const ajv = new Ajv({ allErrors: true });
  addFormats(ajv);
  addIriFormats(ajv);
  // An annotation (the meaning of each enum value), not a constraint: declared so strict mode still refuses any
  // other keyword it does not know.
  ajv.addKeyword('meta:enum');
  // The library renamed the $refs (spdx.schema.json -> spdx.SNAPSHOT.schema.json, res/schema/README.md) but not
  // the $ids of the referenced schemas: register each under the URI the $ref resolves to.
  for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json']) ajv.addSchema(readSchema(join(dir, name)), `http://cyclonedx.org/schema/${name}`);
  cycloneDxValidator = ajv.compile(readSchema(join(dir, 'bom-1.5.SNAPSHOT.schema.json')));
  return cycloneDxValidator;
}

let sarifValidator: ValidateFunction | undefined;
/** The SARIF 2.1.0 JSON schema (draft-04). */
function sarif210(): ValidateFunction {
  if (sarifValidator) return sarifValidator;
  // unicodeRegExp: false: the schema's pattern for a language tag, ^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$,
  // has a stray `]`: a literal in an ECMA-262 pattern as JSON Schema reads it, a syntax error under the u flag
  // Ajv adds by default.
  const ajv = new AjvDraft04({ allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  sarifValidator = ajv.compile(readSchema(join(packageDir('@microsoft/jest-sarif'), 'lib', 'schemas', 'sarif-2.1.0-rtm.5.json')));
  return sarifValidator;
}

/** The document is valid against the schema; if not, the assertion lists Ajv's errors (all of them, up to 50). */
function assertValid(validate: ValidateFunction, document: unknown, what: string): void {
  const ok = validate(document);
  const errors = validate.errors ?? [];
  assert.ok(ok, `${what} is not valid against its schema (${errors.length} errors):\n${errors.slice(0, 50).map((e) => `  ${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`).join('\n')}`);
}

/** The schema rejects the document, with an error at `path`: the validation does look at what it is given. */
function assertRejected(validate: ValidateFunction, document: unknown, path: string, what: string): void {
  assert.equal(validate(document), false, `${what}: the schema accepted it`);
  assert.ok((validate.errors ?? []).some((e) => e.instancePath === path), `${what}: no error at ${path}: ${JSON.stringify(validate.errors)}`);
}

function copy<T>(value: T): T {
  return structuredClone(value);
}

/**
 * A vulnerability database for the debian-app image, imported from two OSV records as `wharf db import` does:
 * glibc with a CVSS vector, an alias and a fix (libc6 and libc-bin), tar with neither severity nor fix.
 */
async function vulnerabilityDb(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'wharf-formats-');
  const records = join(dir, 'records');
  await fsp.mkdir(records);
  const rec = (id: string, name: string, events: object[], extra: object = {}): Promise<void> =>
    fsp.writeFile(join(records, `${id}.json`), JSON.stringify({ schema_version: '1.6.0', id, modified: '2026-11-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events }] }], ...extra }));
  await rec('DEBIAN-CVE-2099-0001', 'glibc', [{ introduced: '0' }, { fixed: '2.36-9+deb12u15' }], { summary: 'glibc: a test record', aliases: ['CVE-2099-0001'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] });
  await rec('DEBIAN-CVE-2099-0008', 'tar', [{ introduced: '0' }, { last_affected: '1.34+dfsg-1.2+deb12u1' }]);
  const db = join(dir, 'db');
  const imported = await cli(['db', 'import', '--db-dir', db, records], dir);
  assert.equal(imported.code, 0, imported.stderr);
  return db;
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
  assertSpdxClosedWorld(json);
});

/**
 * The SPDX 2.3 JSON schema (spdx-spec schemas/spdx-schema-2-3.json) is not installable here (no npm or Debian
 * package ships it), so its rules for the objects wharf writes are checked by hand: the schema closes every
 * object (additionalProperties: false), so each key must be one it names; its required keys; its enums.
 */
const SPDX_DOCUMENT_KEYS = ['SPDXID', 'annotations', 'comment', 'creationInfo', 'dataLicense', 'externalDocumentRefs', 'hasExtractedLicensingInfos', 'name', 'revieweds', 'spdxVersion', 'documentNamespace', 'documentDescribes', 'packages', 'files', 'snippets', 'relationships'];
const SPDX_PACKAGE_KEYS = ['SPDXID', 'annotations', 'attributionTexts', 'builtDate', 'checksums', 'comment', 'copyrightText', 'description', 'downloadLocation', 'externalRefs', 'filesAnalyzed', 'hasFiles', 'homepage', 'licenseComments', 'licenseConcluded', 'licenseDeclared', 'licenseInfoFromFiles', 'name', 'originator', 'packageFileName', 'packageVerificationCode', 'primaryPackagePurpose', 'releaseDate', 'sourceInfo', 'summary', 'supplier', 'validUntilDate', 'versionInfo'];
const SPDX_PURPOSES = ['OTHER', 'INSTALL', 'ARCHIVE', 'FIRMWARE', 'APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'SOURCE', 'DEVICE', 'OPERATING_SYSTEM', 'FILE'];

function assertKeys(obj: Record<string, unknown>, allowed: readonly string[], required: readonly string[], what: string): void {
  for (const k of Object.keys(obj)) assert.ok(allowed.includes(k), `${what}: "${k}" is not a property SPDX 2.3 allows here`);
  for (const k of required) assert.ok(obj[k] !== undefined, `${what}: the required "${k}" is missing`);
}

function assertSpdxClosedWorld(json: Record<string, any>): void {
  assertKeys(json, SPDX_DOCUMENT_KEYS, ['SPDXID', 'creationInfo', 'dataLicense', 'name', 'spdxVersion'], 'the document');
  assertKeys(json.creationInfo, ['comment', 'created', 'creators', 'licenseListVersion'], ['created', 'creators'], 'creationInfo');
  assert.ok(json.creationInfo.creators.length >= 1);
  for (const p of json.packages as Record<string, any>[]) {
    assertKeys(p, SPDX_PACKAGE_KEYS, ['SPDXID', 'downloadLocation', 'name'], p.SPDXID);
    if (p.primaryPackagePurpose !== undefined) assert.ok(SPDX_PURPOSES.includes(p.primaryPackagePurpose), p.primaryPackagePurpose);
    if (p.filesAnalyzed !== undefined) assert.equal(typeof p.filesAnalyzed, 'boolean');
    for (const [k, v] of Object.entries(p)) if (!['externalRefs', 'filesAnalyzed', 'annotations', 'checksums', 'attributionTexts', 'hasFiles', 'licenseInfoFromFiles', 'packageVerificationCode'].includes(k)) assert.equal(typeof v, 'string', `${p.SPDXID}.${k}`);
    for (const r of (p.externalRefs ?? []) as Record<string, unknown>[]) {
      assertKeys(r, ['comment', 'referenceCategory', 'referenceLocator', 'referenceType'], ['referenceCategory', 'referenceLocator', 'referenceType'], `${p.SPDXID} externalRef`);
      assert.ok(['OTHER', 'PERSISTENT-ID', 'SECURITY', 'PACKAGE-MANAGER'].includes(r.referenceCategory as string));
      assert.doesNotMatch(r.referenceLocator as string, /\s/, 'a locator has no spaces');
    }
  }
  for (const r of json.relationships as Record<string, unknown>[]) {
    assertKeys(r, ['spdxElementId', 'comment', 'relatedSpdxElement', 'relationshipType'], ['spdxElementId', 'relatedSpdxElement', 'relationshipType'], 'a relationship');
  }
}

test('the SPDX closed-world check is applied: an unknown key, a missing required key, a bad purpose fail it', async (t) => {
  if (!fixture(t)) return;
  const { json } = await doc(['sbom', '--format', 'spdx-json', `oci:${APP}:latest`]);
  const unknownKey = copy(json);
  unknownKey.packages[1].layer = 1;
  assert.throws(() => assertSpdxClosedWorld(unknownKey), /"layer" is not a property/);
  const noName = copy(json);
  delete noName.packages[1].name;
  assert.throws(() => assertSpdxClosedWorld(noName), /required "name"/);
  const badPurpose = copy(json);
  badPurpose.packages[0].primaryPackagePurpose = 'IMAGE';
  assert.throws(() => assertSpdxClosedWorld(badPurpose));
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

test('CycloneDX 1.5 schema: wharf sbom, and wharf scan with vulnerabilities, are valid; a broken copy is rejected', async (t) => {
  if (!fixture(t)) return;
  const validate = cycloneDx15();
  const sbom = (await doc(['sbom', '--format', 'cyclonedx', `oci:${APP}:latest`])).json;
  assertValid(validate, sbom, 'wharf sbom --format cyclonedx');
  const db = await vulnerabilityDb(t);
  const scan = (await doc(['scan', '--format', 'cyclonedx', '--db-dir', db, `oci:${APP}:latest`])).json;
  const vulns = scan.vulnerabilities as Record<string, any>[];
  assert.deepEqual(vulns.map((v) => v.id).sort(), ['DEBIAN-CVE-2099-0001', 'DEBIAN-CVE-2099-0001', 'DEBIAN-CVE-2099-0008']);
  assert.ok(vulns.some((v) => v.ratings[0].score === 9.8 && v.references?.length && v.recommendation), 'a rating with a score, an alias and a fix are all exercised');
  assertValid(validate, scan, 'wharf scan --format cyclonedx');
  // The schema is really applied: a required field missing, a value outside an enum.
  const noFormat = copy(sbom);
  delete noFormat.bomFormat;
  assertRejected(validate, noFormat, '', 'a BOM without bomFormat');
  const badType = copy(sbom);
  badType.components[0].type = 'package';
  assertRejected(validate, badType, '/components/0/type', 'a component of type "package"');
  const badRating = copy(scan);
  badRating.vulnerabilities[0].ratings[0].severity = 'severe';
  assertRejected(validate, badRating, '/vulnerabilities/0/ratings/0/severity', 'a rating of severity "severe"');
});

test('SARIF 2.1.0 schema: wharf scan with vulnerability, secret, permission and config results is valid; a broken copy is rejected', async (t) => {
  if (!fixture(t)) return;
  const validate = sarif210();
  const db = await vulnerabilityDb(t);
  const { json, text } = await doc(['scan', '--format', 'sarif', '--db-dir', db, `oci:${APP}:latest`]);
  const ruleIds = new Set((json.runs[0].results as { ruleId: string }[]).map((r) => r.ruleId));
  for (const id of ['DEBIAN-CVE-2099-0001', 'aws-access-key-id', 'setuid', 'secret-in-env']) assert.ok(ruleIds.has(id), `a ${id} result`);
  assertValid(validate, json, 'wharf scan --format sarif');
  assert.doesNotMatch(text, /AKIAWHARFBENCHFAKE01|hunter2/);
  const noDriverName = copy(json);
  delete noDriverName.runs[0].tool.driver.name;
  assertRejected(validate, noDriverName, '/runs/0/tool/driver', 'a driver without a name');
  const badLevel = copy(json);
  badLevel.runs[0].results[0].level = 'fatal';
  assertRejected(validate, badLevel, '/runs/0/results/0/level', 'a result of level "fatal"');
});

test('SARIF: a file whose name is not URI-safe gets a percent-encoded artifactLocation.uri that decodes back to its path', () => {
  const paths = ['/opt/my app/run tool', '/srv/données/ünï.txt', '/data/50%/a#b?c', '/w/[x]:y', '/etc/app/secret.env'];
  const report: ScanReport = {
    image: { reference: 'oci:/x:latest', architecture: 'amd64', layers: 1, layerIds: [{ digest: 'sha256:' + 'a'.repeat(64) }] },
    packages: [],
    vulnerabilities: [],
    secrets: [{ rule: 'aws-access-key-id', title: 'AWS access key ID', severity: 'high', line: 3, secret: 'AKIAEXAMPLEEXAMPLE00', redacted: 'AKIA****************', path: '/run/my secrets/k #1.env', layer: 1, inFinalFilesystem: true }],
    permissions: paths.map((path) => ({ kind: 'setuid' as const, path, layer: 1, mode: 0o4755, uid: 0, gid: 0, type: 'file' as const })),
    config: [],
    timings: { readLayers: 0, catalogue: 0, match: 0 },
  };
  const sarif = toSarif(report, { version: '0.0.0-test' }) as Record<string, any>;
  assertValid(sarif210(), sarif, 'SARIF for awkward file names');
  const uris = (sarif.runs[0].results as Record<string, any>[]).map((r) => r.locations[0].physicalLocation.artifactLocation.uri as string);
  assert.deepEqual(uris.map((u) => `/${u.split('/').map(decodeURIComponent).join('/')}`), ['/run/my secrets/k #1.env', ...paths]);
  for (const u of uris) assert.doesNotMatch(u, /[ #?[\]]|[^\0-\x7f]/, u);
  // The schema checks the URI: the path as it is would not pass.
  const raw = copy(sarif);
  raw.runs[0].results[1].locations[0].physicalLocation.artifactLocation.uri = 'opt/my app/run tool';
  assertRejected(sarif210(), raw, '/runs/0/results/1/locations/0/physicalLocation/artifactLocation/uri', 'a uri with a space');
});

test('the layer that installed each package, and the layer of each secret and permission finding, is in every format', async (t) => {
  if (!fixture(t)) return;
  const layers = (await doc(['inspect', `oci:${APP}:latest`])).json.Layers as string[];
  assert.ok(layers.length >= 3);
  const db = await vulnerabilityDb(t);
  // debian-app's later layers install no package: every package came with the base layer.
  const cdx = (await doc(['scan', '--format', 'cyclonedx', '--db-dir', db, `oci:${APP}:latest`])).json;
  for (const c of cdx.components as { name: string; properties: { name: string; value: string }[] }[]) {
    const prop = (name: string): string | undefined => c.properties.find((p) => p.name === name)?.value;
    assert.equal(prop('wharf:layer:index'), '1', c.name);
    assert.equal(prop('wharf:layer:digest'), layers[0], c.name);
    assert.match(prop('wharf:layer:diffID') ?? '', /^sha256:[0-9a-f]{64}$/, c.name);
  }
  const spdx = (await doc(['sbom', '--format', 'spdx-json', `oci:${APP}:latest`])).json;
  for (const p of (spdx.packages as { SPDXID: string; comment?: string }[]).filter((p) => p.SPDXID !== 'SPDXRef-Image')) {
    assert.match(p.comment ?? '', new RegExp(`^installed by layer 1 \\(${layers[0]}, diff ID sha256:[0-9a-f]{64}\\)$`), p.SPDXID);
  }
  assertSpdxClosedWorld(spdx);
  const sarif = (await doc(['scan', '--format', 'sarif', '--db-dir', db, `oci:${APP}:latest`])).json;
  const results = sarif.runs[0].results as { ruleId: string; message: { text: string }; properties?: { layer: number; layerDigest?: string } }[];
  const vuln = results.find((r) => r.ruleId === 'DEBIAN-CVE-2099-0001')!;
  assert.deepEqual([vuln.properties?.layer, vuln.properties?.layerDigest], [1, layers[0]]);
  assert.match(vuln.message.text, /installed by layer 1 \(sha256:/);
  // The planted AWS key is in the layer the truth file names (0-based there): the SARIF result names that blob.
  const truth = JSON.parse(readFileSync(`${APP}.truth.json`, 'utf8')) as { secrets: { kind: string; layer?: number }[] };
  const planted = truth.secrets.find((s) => s.kind === 'aws_access_key_id')!;
  const secret = results.find((r) => r.ruleId === 'aws-access-key-id')!;
  assert.equal(secret.properties?.layer, planted.layer! + 1);
  assert.equal(secret.properties?.layerDigest, layers[planted.layer!]);
  const setuid = results.find((r) => r.ruleId === 'setuid')!;
  assert.equal(setuid.properties?.layerDigest, layers[setuid.properties!.layer - 1]);
  assertValid(cycloneDx15(), cdx, 'the CycloneDX document with layer properties');
  assertValid(sarif210(), sarif, 'the SARIF document with layer properties');
});
