/**
 * Machine formats of a scan report: CycloneDX 1.5 JSON (components from the packages, and the vulnerabilities
 * that affect them), SPDX 2.3 JSON (the package inventory), SARIF 2.1.0 (every finding as a result, for code
 * scanning dashboards). Secrets are never written in full: these files are meant to be uploaded.
 */
import { createHash } from 'node:crypto';
import type { Package } from './catalog/index.js';
import type { PackageLayer } from './catalog/types.js';
import type { ScanReport, Severity } from './scan.js';

export interface FormatOptions {
  /** The tool's version, for the documents' tool/creator fields. */
  version: string;
  /** The document's time (default now). */
  now?: Date;
}

/** A stable id for a package within one document (bom-ref, SPDXID). */
function refOf(p: Package): string {
  return createHash('sha256').update(`${p.purl} ${p.path}`).digest('hex').slice(0, 16);
}

const CDX_SEVERITY: Record<Severity, string> = { critical: 'critical', high: 'high', medium: 'medium', low: 'low', unknown: 'unknown' };

/** CycloneDX 1.5: the image as metadata.component, a component per package, vulnerabilities affecting them. */
export function toCycloneDx(report: ScanReport, options: FormatOptions, includeVulnerabilities = true): Record<string, unknown> {
  const refs = new Map<string, string>();
  const components = report.packages.map((p) => {
    const ref = `pkg-${refOf(p)}`;
    refs.set(p.purl, ref);
    const c: Record<string, unknown> = { type: 'library', 'bom-ref': ref, name: p.name, version: p.version, purl: p.purl };
    if (p.licenses?.length) c.licenses = p.licenses.map((name) => ({ license: { name } }));
    c.properties = [
      { name: 'wharf:package:type', value: p.type },
      { name: 'wharf:package:path', value: p.path },
      ...(p.sourceName ? [{ name: 'wharf:package:source', value: `${p.sourceName}${p.sourceVersion ? ` ${p.sourceVersion}` : ''}` }] : []),
      ...layerProperties(p.layer),
    ];
    return c;
  });
  const bom: Record<string, unknown> = {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuidFrom(report.image.reference, options.now ?? new Date())}`,
    version: 1,
    metadata: {
      timestamp: (options.now ?? new Date()).toISOString(),
      tools: { components: [{ type: 'application', name: 'wharf', version: options.version }] },
      component: { type: 'container', 'bom-ref': 'image', name: report.image.reference },
    },
    components,
  };
  if (includeVulnerabilities && report.vulnerabilities.length > 0) {
    bom.vulnerabilities = report.vulnerabilities.map((v) => {
      const out: Record<string, unknown> = {
        id: v.id,
        source: { name: 'OSV', url: `https://osv.dev/vulnerability/${encodeURIComponent(v.id)}` },
        ratings: [{ severity: CDX_SEVERITY[v.severity], ...(v.score !== undefined ? { score: v.score, method: 'CVSSv31' } : {}) }],
        affects: [{ ref: refs.get(v.package.purl) ?? 'image' }],
      };
      if (v.summary) out.description = v.summary;
      if (v.aliases.length) out.references = v.aliases.map((id) => ({ id, source: { name: 'alias' } }));
      if (v.fixedVersion) out.recommendation = `upgrade ${v.package.name} to ${v.fixedVersion}`;
      return out;
    });
  }
  return bom;
}

/**
 * The layer that installed a package, as CycloneDX properties (the spec's name/value pairs, in wharf's own
 * namespace): its 1-based index, blob digest and diff ID, so a finding can be traced to the Dockerfile step.
 */
function layerProperties(layer: PackageLayer | undefined): { name: string; value: string }[] {
  if (!layer) return [];
  const out = [{ name: 'wharf:layer:index', value: String(layer.index) }];
  if (layer.digest) out.push({ name: 'wharf:layer:digest', value: layer.digest });
  if (layer.diffID) out.push({ name: 'wharf:layer:diffID', value: layer.diffID });
  return out;
}

/** `layer 2 (sha256:…, diff ID sha256:…)`, for the free-text fields of SPDX and SARIF. */
function layerText(layer: PackageLayer): string {
  const ids = [layer.digest, ...(layer.diffID ? [`diff ID ${layer.diffID}`] : [])].filter(Boolean);
  return `layer ${layer.index}${ids.length ? ` (${ids.join(', ')})` : ''}`;
}

/** SARIF result properties (a property bag) naming the layer a finding is in. */
function layerBag(index: number, layer?: { digest: string; diffID?: string }): Record<string, unknown> {
  return { layer: index, ...(layer?.digest ? { layerDigest: layer.digest } : {}), ...(layer?.diffID ? { layerDiffID: layer.diffID } : {}) };
}

/** SPDX 2.3: the image as the described package, each package CONTAINed by it, purls as external refs. */
export function toSpdx(report: ScanReport, options: FormatOptions): Record<string, unknown> {
  const now = options.now ?? new Date();
  const image = 'SPDXRef-Image';
  const packages = report.packages.map((p) => ({
    SPDXID: `SPDXRef-Package-${refOf(p)}`,
    name: p.name,
    versionInfo: p.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    ...(p.sourceName ? { sourceInfo: `built from ${p.sourceName}${p.sourceVersion ? ` ${p.sourceVersion}` : ''}` } : {}),
    // SPDX 2.3 has no field for an image layer: the package comment says which one installed it.
    ...(p.layer ? { comment: `installed by ${layerText(p.layer)}` } : {}),
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
  }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: report.image.reference,
    documentNamespace: `https://wharf.invalid/spdx/${uuidFrom(report.image.reference, now)}`,
    creationInfo: { created: now.toISOString().replace(/\.\d{3}Z$/, 'Z'), creators: [`Tool: wharf-${options.version}`] },
    packages: [{ SPDXID: image, name: report.image.reference, downloadLocation: 'NOASSERTION', filesAnalyzed: false, primaryPackagePurpose: 'CONTAINER', licenseConcluded: 'NOASSERTION', licenseDeclared: 'NOASSERTION', copyrightText: 'NOASSERTION' }, ...packages],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: image },
      ...packages.map((p) => ({ spdxElementId: image, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
    ],
  };
}

const SARIF_LEVEL: Record<string, 'error' | 'warning' | 'note'> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', unknown: 'note' };

/** SARIF 2.1.0: one rule per vulnerability id and per secret, permission and config rule; one result per finding. */
export function toSarif(report: ScanReport, options: FormatOptions): Record<string, unknown> {
  const rules = new Map<string, Record<string, unknown>>();
  const results: Record<string, unknown>[] = [];
  const rule = (id: string, text: string, level: string): number => {
    if (!rules.has(id)) rules.set(id, { id, shortDescription: { text }, defaultConfiguration: { level: SARIF_LEVEL[level] ?? 'warning' } });
    return [...rules.keys()].indexOf(id);
  };
  const at = (path: string): Record<string, unknown>[] => [{ physicalLocation: { artifactLocation: { uri: fileUri(path) } } }];
  for (const v of report.vulnerabilities) {
    const index = rule(v.id, v.summary ?? v.id, v.severity);
    results.push({ ruleId: v.id, ruleIndex: index, level: SARIF_LEVEL[v.severity], message: { text: `${v.package.name} ${v.package.version}: ${v.id}${v.fixedVersion ? `, fixed in ${v.fixedVersion}` : ', no fix yet'}${v.package.layer ? `, installed by ${layerText(v.package.layer)}` : ''}` }, locations: at(report.packages.find((p) => p.purl === v.package.purl)?.path ?? 'image'), ...(v.package.layer ? { properties: layerBag(v.package.layer.index, v.package.layer) } : {}) });
  }
  for (const s of report.secrets) {
    const index = rule(s.rule, s.title, s.severity);
    results.push({ ruleId: s.rule, ruleIndex: index, level: SARIF_LEVEL[s.severity], message: { text: `${s.title} in layer ${s.layer}${s.inFinalFilesystem ? '' : `, deleted by layer ${s.hiddenByLayer} but still in the image`}: ${s.redacted}` }, locations: [{ physicalLocation: { artifactLocation: { uri: fileUri(s.path) }, region: { startLine: s.line } } }], properties: layerBag(s.layer, report.image.layerIds?.[s.layer - 1]) });
  }
  for (const p of report.permissions) {
    const index = rule(p.kind, `${p.kind} file`, 'medium');
    results.push({ ruleId: p.kind, ruleIndex: index, level: 'warning', message: { text: `${p.path}: ${p.kind}, mode ${p.mode.toString(8).padStart(4, '0')}, owner ${p.uid}:${p.gid}, layer ${p.layer}` }, locations: at(p.path), properties: layerBag(p.layer, report.image.layerIds?.[p.layer - 1]) });
  }
  for (const c of report.config) {
    const index = rule(c.rule, c.message, c.severity);
    results.push({ ruleId: c.rule, ruleIndex: index, level: SARIF_LEVEL[c.severity], message: { text: `${c.message}${c.value ? ` (${c.value})` : ''}` }, locations: at('image-config.json') });
  }
  return {
    version: '2.1.0',
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    runs: [{ tool: { driver: { name: 'wharf', version: options.version, informationUri: 'https://www.npmjs.com/package/wharf', rules: [...rules.values()] } }, results }],
  };
}

/**
 * An image path as SARIF's artifactLocation.uri, relative to the image root. SARIF wants a valid URI reference
 * (RFC 3986; the schema's format "uri-reference"), so each segment is percent-encoded: a file name may hold
 * anything but `/`, and left as it is a space or a non-ASCII name is not a URI, while `#`, `?` or `%` would be
 * read as a fragment, a query or an escape, naming another file. Viewers decode it back to the path.
 */
function fileUri(path: string): string {
  return path.replace(/^\//, '').split('/').map(encodeURIComponent).join('/');
}

/** A v4-shaped UUID derived from the document's subject and time: the same inputs give the same id (reproducible). */
function uuidFrom(subject: string, now: Date): string {
  const h = createHash('sha256').update(`${subject} ${now.toISOString()}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
