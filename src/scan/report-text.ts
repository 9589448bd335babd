/**
 * The readable form of a scan report: a section per kind of finding, vulnerabilities grouped by severity (worst
 * first), each finding with the layer that holds it. Secrets are redacted unless asked. Strings from the image
 * are passed through `clean` by the caller's choice (the CLI makes them safe for a terminal).
 */
import type { PackageLayer } from './catalog/types.js';
import { SEVERITIES, type ScanReport, type Severity } from './scan.js';

export interface TextReportOptions {
  showSecrets?: boolean;
  /** ANSI colours for severities (a terminal). */
  colour?: boolean;
  /** Makes a string from the image safe to print (default: as it is). */
  clean?: (s: string) => string;
}

const COLOURS: Record<Severity, string> = { critical: '\x1b[1;31m', high: '\x1b[31m', medium: '\x1b[33m', low: '\x1b[36m', unknown: '\x1b[2m' };

export function reportText(report: ScanReport, options: TextReportOptions = {}): string {
  const clean = options.clean ?? ((s: string) => s);
  const sev = (s: Severity): string => (options.colour ? `${COLOURS[s]}${s.toUpperCase()}\x1b[0m` : s.toUpperCase());
  const lines: string[] = [];
  const os = report.image.os ? `${report.image.os.prettyName ?? `${report.image.os.id} ${report.image.os.versionId}`}` : 'unknown OS';
  lines.push(`${clean(report.image.reference)} (${clean(os)}, ${report.image.architecture}, ${report.image.layers} layers)`);
  const byType = new Map<string, number>();
  for (const p of report.packages) byType.set(p.type, (byType.get(p.type) ?? 0) + 1);
  lines.push(`Packages: ${report.packages.length}${byType.size ? ` (${[...byType].map(([t, n]) => `${n} ${t}`).join(', ')})` : ''}`);

  lines.push('', `Vulnerabilities (${report.vulnerabilities.length})`);
  if (report.vulnerabilities.length === 0) lines.push('  none found');
  for (const level of [...SEVERITIES].reverse()) {
    const these = report.vulnerabilities.filter((v) => v.severity === level);
    if (these.length === 0) continue;
    lines.push(`  ${sev(level)} (${these.length})`);
    for (const v of these) {
      const fix = v.fixedVersion ? `fixed in ${clean(v.fixedVersion)}` : 'no fix yet';
      const layer = v.package.layer ? `  (${layerName(v.package.layer, clean)})` : '';
      lines.push(`    ${clean(v.id)}  ${clean(v.package.name)} ${clean(v.package.version)}  ${fix}${layer}${v.summary ? `  ${clean(v.summary).slice(0, 80)}` : ''}`);
    }
  }

  lines.push('', `Secrets (${report.secrets.length + report.config.filter((c) => c.secret).length})`);
  for (const s of report.secrets) {
    const where = s.inFinalFilesystem ? `layer ${s.layer}` : `layer ${s.layer}, deleted by layer ${s.hiddenByLayer} but still in the image`;
    lines.push(`  ${sev(s.severity as Severity)}  ${s.title}  ${clean(s.path)}:${s.line}  (${where})  ${clean(options.showSecrets ? s.secret : s.redacted)}`);
  }
  for (const c of report.config.filter((f) => f.secret)) lines.push(`  ${sev(c.severity)}  ${c.message}  (${c.where})  ${clean((options.showSecrets ? c.secret : c.value) ?? '')}`);

  const perms = report.permissions;
  lines.push('', `Files (${perms.length})`);
  for (const p of perms) {
    const owner = `${p.uid}:${p.gid}`;
    lines.push(`  ${p.kind.padEnd(14)} ${p.mode.toString(8).padStart(4, '0')} ${owner.padEnd(9)} ${clean(p.path)}  (layer ${p.layer})`);
  }

  const lint = report.config.filter((f) => !f.secret);
  lines.push('', `Config (${lint.length})`);
  for (const c of lint) lines.push(`  ${sev(c.severity)}  ${c.rule}: ${clean(c.message)}${c.value && c.rule !== 'runs-as-root' ? ` (${clean(c.value)})` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** `layer 3 sha256:16d6e747cb7c`: the index to count by, and enough of the blob digest to find it in the manifest. */
function layerName(layer: PackageLayer, clean: (s: string) => string): string {
  const colon = layer.digest.indexOf(':');
  const short = colon < 0 ? layer.digest.slice(0, 12) : layer.digest.slice(0, colon + 13);
  return short ? `layer ${layer.index} ${clean(short)}` : `layer ${layer.index}`;
}

/** The report as JSON, secrets redacted unless asked (the unredacted value is dropped, not just hidden). */
export function reportJson(report: ScanReport, showSecrets = false): unknown {
  if (showSecrets) return report;
  return {
    ...report,
    secrets: report.secrets.map(({ secret: _secret, ...rest }) => rest),
    config: report.config.map(({ secret: _secret, ...rest }) => rest),
  };
}
