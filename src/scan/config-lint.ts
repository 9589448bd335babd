/**
 * What the image config says that a reviewer should know: it runs as root, it carries secrets in Env, Labels or
 * history (anyone who pulls the image reads them), it listens on a privileged port, it has no HEALTHCHECK, a
 * layer was ADDed from a URL (fetched at build time, unpinned). Rule ids are stable: ignore files name them.
 */
import type { ImageConfig } from '../oci/types.js';
import { redact, secretInSetting } from './secrets.js';

export type LintSeverity = 'high' | 'medium' | 'low';

export interface ConfigFinding {
  rule: 'runs-as-root' | 'secret-in-env' | 'secret-in-label' | 'secret-in-history' | 'privileged-port' | 'no-healthcheck' | 'add-from-url';
  severity: LintSeverity;
  /** Where in the config: `config.User`, `config.Env[2]`, `history[3].created_by`, … */
  where: string;
  message: string;
  /** The offending value, redacted where it is a secret. */
  value?: string;
  /** The same, unredacted (secrets only; shown with --show-secrets). */
  secret?: string;
}

/** The config's findings, in a stable order. */
export function lintConfig(config: ImageConfig): ConfigFinding[] {
  const out: ConfigFinding[] = [];
  const c = config.config ?? {};
  const user = (c.User ?? '').trim();
  if (user === '' || /^(?:root|0)(?::(?:root|0))?$/.test(user) || /^(?:root|0):/.test(user)) {
    out.push({ rule: 'runs-as-root', severity: 'medium', where: 'config.User', message: user === '' ? 'no USER: the container runs as root' : `USER ${user}: the container runs as root`, value: user });
  }
  (c.Env ?? []).forEach((kv, i) => {
    const eq = kv.indexOf('=');
    const name = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? '' : kv.slice(eq + 1);
    if (secretInSetting(name, value)) out.push({ rule: 'secret-in-env', severity: 'high', where: `config.Env[${i}]`, message: `${name} holds a secret in the image config, readable by anyone who pulls the image`, value: `${name}=${redact(value)}`, secret: kv });
  });
  for (const [name, value] of Object.entries(c.Labels ?? {})) {
    if (typeof value === 'string' && secretInSetting(name, value)) out.push({ rule: 'secret-in-label', severity: 'high', where: `config.Labels[${JSON.stringify(name)}]`, message: `label ${name} holds a secret`, value: `${name}=${redact(value)}`, secret: `${name}=${value}` });
  }
  (config.history ?? []).forEach((h, i) => {
    const by = h.created_by ?? '';
    for (const m of by.matchAll(/(?:^|[\s;&|])(?:--build-arg\s+|export\s+|ENV\s+|ARG\s+)?([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]+)/g)) {
      const value = m[2]!.replace(/^["']|["']$/g, '');
      if (secretInSetting(m[1]!, value)) out.push({ rule: 'secret-in-history', severity: 'high', where: `history[${i}].created_by`, message: `the build step sets ${m[1]} to a secret, kept in the image's history`, value: `${m[1]}=${redact(value)}`, secret: `${m[1]}=${value}` });
    }
    const url = /(?:^|\s)(?:\/bin\/sh -c #\(nop\)\s*)?ADD\s+(?:--[\w-]+=\S+\s+)*(https?:\/\/\S+)/.exec(by);
    if (url) out.push({ rule: 'add-from-url', severity: 'low', where: `history[${i}].created_by`, message: `ADD from a URL: fetched at build time, not pinned by digest (use curl with a checksum, or COPY)`, value: url[1]! });
  });
  for (const port of Object.keys(c.ExposedPorts ?? {})) {
    const n = Number(port.split('/')[0]);
    if (Number.isInteger(n) && n > 0 && n < 1024) out.push({ rule: 'privileged-port', severity: 'low', where: 'config.ExposedPorts', message: `port ${port} is privileged (< 1024): the process needs root or CAP_NET_BIND_SERVICE`, value: port });
  }
  const hc = c.Healthcheck as { Test?: unknown } | undefined;
  const test = Array.isArray(hc?.Test) ? (hc!.Test as unknown[]) : undefined;
  if (!test || test.length === 0 || test[0] === 'NONE') out.push({ rule: 'no-healthcheck', severity: 'low', where: 'config.Healthcheck', message: 'no HEALTHCHECK: an orchestrator cannot tell a hung container from a healthy one' });
  return out;
}
