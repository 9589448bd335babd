/**
 * Re-format an RFC 3339 timestamp the way Go's time.Time marshals to JSON (RFC3339Nano): trailing zeros of
 * the fraction dropped, a zero offset written as Z. skopeo prints Created this way; so do we, to match it.
 */
export function goTimeString(value: string | undefined): string | null {
  if (!value) return null;
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/.exec(value);
  if (!m) return value;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const zone = m[4] === 'z' || m[4] === 'Z' || m[4] === '+00:00' || m[4] === '-00:00' ? 'Z' : m[4];
  return `${m[1]}T${m[2]}${frac ? `.${frac}` : ''}${zone}`;
}
