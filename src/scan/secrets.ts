/**
 * Secrets in file contents and in strings of the image config: private keys, cloud and forge tokens, passwords
 * in configuration files. Rules are precise on purpose (a token's own prefix and length, a key's PEM armour) so
 * that an operating system's files raise no false alarm; the generic "password = value" rule applies only to
 * configuration-like files and skips placeholders. Matches are kept whole in memory only long enough to redact.
 */

export type SecretSeverity = 'critical' | 'high' | 'medium' | 'low';

export interface SecretRule {
  id: string;
  title: string;
  severity: SecretSeverity;
  /** The secret is group 1 if the pattern has a group, else the whole match. Global, multiline. */
  pattern: RegExp;
  /** Only files whose path this accepts (default: every file). */
  paths?: (path: string) => boolean;
  /** A match this rejects is not a secret (placeholders, examples). */
  reject?: (secret: string) => boolean;
}

export interface SecretMatch {
  rule: string;
  title: string;
  severity: SecretSeverity;
  /** 1-based line of the match's start. */
  line: number;
  /** The secret itself (shown only with --show-secrets). */
  secret: string;
  /** The secret with all but its first four characters replaced: what reports print by default. */
  redacted: string;
}

/** Files named like configuration, where `password: value` is worth reporting. */
const CONFIG_FILE = /(?:^|\/)(?:\.env(?:\.[\w.-]+)?|[\w.-]+\.(?:env|conf|cfg|cnf|ini|ya?ml|properties|toml|json|xml)|credentials|\.netrc|\.pgpass|\.npmrc|\.pypirc|\.git-credentials)$/i;

/** Values that start like a template or a reference (`${VAR}`, `<your password>`, `{{ .Values.x }}`, `%(pw)s`). */
const TEMPLATE_START = /^(?:\$\{|<|\{\{|%\()/;

/** A value that is a placeholder, not a secret. */
function isPlaceholder(value: string): boolean {
  return TEMPLATE_START.test(value) || PLACEHOLDER.test(value);
}

/** Values that are not secrets: empty-ish, placeholders, references to somewhere else. */
const PLACEHOLDER = /^(?:\$\{?[\w.-]+\}?|\{\{.*\}\}|%\(?[\w.-]+\)?s?|\*+|x+|null|none|nil|true|false|changeme|change_me|password|secret|example|your[_-]?\w*|todo|redacted|\.\.\.)$/i;

export const SECRET_RULES: readonly SecretRule[] = [
  {
    id: 'private-key',
    title: 'Private key',
    severity: 'high',
    pattern: /-----BEGIN[ A-Z0-9]{0,20} PRIVATE KEY(?: BLOCK)?-----/g,
  },
  {
    id: 'aws-access-key-id',
    title: 'AWS access key ID',
    severity: 'critical',
    pattern: /(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16})(?![A-Z0-9])/g,
  },
  {
    id: 'aws-secret-access-key',
    title: 'AWS secret access key',
    severity: 'critical',
    pattern: /aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
  },
  { id: 'github-token', title: 'GitHub token', severity: 'critical', pattern: /(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,255})(?![A-Za-z0-9_])/g },
  { id: 'github-fine-grained-token', title: 'GitHub fine-grained token', severity: 'critical', pattern: /(?<![A-Za-z0-9_])(github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])/g },
  { id: 'gitlab-token', title: 'GitLab personal access token', severity: 'critical', pattern: /(?<![A-Za-z0-9_-])(glpat-[A-Za-z0-9_-]{20})(?![A-Za-z0-9_-])/g },
  { id: 'slack-token', title: 'Slack token', severity: 'high', pattern: /(?<![A-Za-z0-9-])(xox[baprs]-[0-9]{6,}-[0-9A-Za-z-]{6,})(?![A-Za-z0-9-])/g },
  { id: 'google-api-key', title: 'Google API key', severity: 'high', pattern: /(?<![A-Za-z0-9_-])(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/g },
  { id: 'stripe-secret-key', title: 'Stripe secret key', severity: 'critical', pattern: /(?<![A-Za-z0-9_])([sr]k_live_[0-9a-zA-Z]{24,99})(?![A-Za-z0-9_])/g },
  { id: 'npm-token', title: 'npm access token', severity: 'critical', pattern: /(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])/g },
  {
    id: 'password-in-config',
    title: 'Password in a configuration file',
    severity: 'high',
    // KEY = value / KEY: value, the key naming a password, on a line that is not a comment. `passwd` only with
    // `=`: `passwd: files` is nsswitch.conf naming a database, not a password.
    pattern: /^[ \t]*(?:export[ \t]+)?["']?[\w.-]*(?:(?:password|pwd|secret_?key|api_?key|auth_?token|access_?token)["']?[ \t]*[:=]|passwd["']?[ \t]*=)[ \t]*["']?([^\s"'#;,]{4,200})/gim,
    paths: (p) => CONFIG_FILE.test(p),
    reject: isPlaceholder,
  },
];

/**
 * A cheap test first: every rule needs one of these words, so a file without any of them is never run through
 * the rules. (Case-insensitive: "password" and "PASSWORD".)
 */
const PREFILTER = /PRIVATE KEY|A[KSBCGIRNP][A-Z]A|aws_?secret|gh[pousr]_|github_pat_|glpat-|xox[baprs]-|AIza|k_live_|npm_|passw|pwd|secret_?key|api_?key|_token/i;

/** Text worth scanning: no NUL byte in the first 8 KiB (a binary file is not read as text). */
export function looksLikeText(data: Buffer): boolean {
  return data.subarray(0, 8192).indexOf(0) < 0;
}

/** The secrets in a file's contents (`path` without a leading `/`, for the config-file rules). */
export function findSecrets(path: string, data: Buffer, rules: readonly SecretRule[] = SECRET_RULES): SecretMatch[] {
  if (!looksLikeText(data)) return [];
  const text = data.toString('latin1');
  if (!PREFILTER.test(text)) return [];
  const out: SecretMatch[] = [];
  let lineStarts: number[] | undefined;
  for (const rule of rules) {
    if (rule.paths && !rule.paths(path)) continue;
    rule.pattern.lastIndex = 0;
    for (let m = rule.pattern.exec(text); m; m = rule.pattern.exec(text)) {
      if (m[0].length === 0) rule.pattern.lastIndex++;
      const secret = m[1] ?? m[0];
      if (rule.reject?.(secret)) continue;
      lineStarts ??= lineIndex(text);
      out.push({ rule: rule.id, title: rule.title, severity: rule.severity, line: lineOf(lineStarts, m.index), secret, redacted: redact(secret) });
      if (out.length >= MAX_MATCHES_PER_FILE) return out;
    }
  }
  return out.sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
}

/** A file full of keys (a test corpus, a key store) says so with this many; the rest add nothing. */
const MAX_MATCHES_PER_FILE = 100;

/** Keep four characters, hide the rest (a private key's armour is not secret: it is shown as is). */
export function redact(secret: string): string {
  if (secret.startsWith('-----BEGIN')) return secret;
  const keep = Math.min(4, Math.floor(secret.length / 4));
  return `${secret.slice(0, keep)}${'*'.repeat(Math.max(4, secret.length - keep))}`;
}

function lineIndex(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function lineOf(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** Names of environment variables and labels whose value is a secret when it is not empty. */
// The secret word ends the name: DB_PASSWORD, GITHUB_TOKEN, db.password — not TOKEN_URL or PASSWORD_FILE,
// which name where a secret is, not the secret.
const SECRET_NAME = /(?:^|[_.-])(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)$/i;

/** `NAME=value` strings (Env) or a name and a value (Labels) that hold a secret. */
export function secretInSetting(name: string, value: string): boolean {
  if (value.trim() === '' || isPlaceholder(value.trim())) return false;
  if (SECRET_NAME.test(name)) return true;
  // A value that is a token whatever its name.
  return SECRET_RULES.some((r) => r.id !== 'password-in-config' && r.id !== 'private-key' && new RegExp(r.pattern.source, r.pattern.flags.replace('g', '')).test(value));
}
