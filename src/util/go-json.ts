/**
 * JSON output byte-for-byte like Go's `encoding/json` `MarshalIndent`, which is what skopeo prints, so that scripts
 * (and diffs) written against skopeo's output keep working with wharf's.
 *
 * What differs from `JSON.stringify(v, null, 4)`:
 * - `<`, `>`, `&` are written as `\u003c`, `\u003e`, `\u0026` (Go escapes HTML-significant characters by default),
 *   U+2028 and U+2029 as `\u2028`/`\u2029`, and control characters other than `\n`, `\r`, `\t` as `\u00XX`
 *   (Go before 1.22, which the skopeo builds we compare against use, writes `\b` and `\f` as `\u0008`/`\u000c`).
 * - A lone UTF-16 surrogate becomes U+FFFD (Go strings are UTF-8; its decoder already replaced such escapes).
 * - A JavaScript `Map` is a Go map: its keys are written sorted by their UTF-8 bytes, as Go sorts map keys.
 *   A plain object is a Go struct: its keys are written in insertion order.
 * - `-0` is written as `-0`, as Go does.
 *
 * Like `JSON.stringify`: `undefined` and functions are left out of objects (and are `null` in arrays); objects with a
 * `toJSON()` method are replaced by its result. Non-finite numbers are refused, as Go refuses them.
 */

/** Go 1.22 and later write `\b` and `\f`; the skopeo builds wharf is compared with (Go 1.19) write `\u0008`/`\u000c`. */
export const GO_ESCAPES_B_AND_F_SHORT = false;

const HEX = '0123456789abcdef';

function escapeChar(code: number): string {
  return '\\u00' + HEX[code >> 4] + HEX[code & 0xf];
}

/** A JSON string literal, escaped the way Go's encoder does with HTML escaping on. */
export function goQuote(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20) {
      if (c === 0x0a) rep = '\\n';
      else if (c === 0x0d) rep = '\\r';
      else if (c === 0x09) rep = '\\t';
      else if (GO_ESCAPES_B_AND_F_SHORT && c === 0x08) rep = '\\b';
      else if (GO_ESCAPES_B_AND_F_SHORT && c === 0x0c) rep = '\\f';
      else rep = escapeChar(c);
    } else if (c === 0x22) {
      rep = '\\"';
    } else if (c === 0x5c) {
      rep = '\\\\';
    } else if (c === 0x3c || c === 0x3e || c === 0x26) {
      rep = escapeChar(c);
    } else if (c === 0x2028 || c === 0x2029) {
      rep = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: copied as is
        continue;
      }
      rep = '\ufffd';
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

/** Go's float64 encoding; for every finite double it agrees with JavaScript's shortest round-trip form except -0. */
function goNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`json: unsupported value: ${n}`);
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

/** Compare strings by their UTF-8 bytes (how Go sorts map keys); differs from `<` only above the BMP. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isOmitted(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** `indent === null`: compact (json.Marshal); otherwise json.MarshalIndent with this prefix and indent. */
function encode(value: unknown, indent: string | null, depth: number, prefix: string, seen: Set<object>): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function' && !(value instanceof Map)) {
    value = (value as { toJSON(): unknown }).toJSON();
  }
  if (value === null || isOmitted(value)) return 'null';
  switch (typeof value) {
    case 'string':
      return goQuote(value);
    case 'number':
      return goNumber(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError('json: unsupported value: encountered a cycle');
  seen.add(obj);
  try {
    const sep = indent === null ? '' : '\n' + prefix + indent.repeat(depth + 1);
    const close = indent === null ? '' : '\n' + prefix + indent.repeat(depth);
    const colon = indent === null ? ':' : ': ';
    if (Array.isArray(obj)) {
      if (obj.length === 0) return '[]';
      const items = obj.map((v) => encode(v, indent, depth + 1, prefix, seen));
      return '[' + sep + items.join(',' + sep) + close + ']';
    }
    let entries: [string, unknown][];
    if (obj instanceof Map) {
      entries = [...obj.entries()]
        .map(([k, v]) => [String(k), v] as [string, unknown])
        .sort((a, b) => compareUtf8(a[0], b[0]));
    } else {
      entries = Object.entries(obj);
    }
    entries = entries.filter(([, v]) => !isOmitted(v));
    if (entries.length === 0) return '{}';
    const parts = entries.map(([k, v]) => goQuote(k) + colon + encode(v, indent, depth + 1, prefix, seen));
    return '{' + sep + parts.join(',' + sep) + close + '}';
  } finally {
    seen.delete(obj);
  }
}

/** Go's `json.MarshalIndent(v, prefix, indent)`; skopeo uses prefix "" and indent four spaces. No trailing newline. */
export function goMarshalIndent(value: unknown, prefix = '', indent = '    '): string {
  return encode(value, indent, 0, prefix, new Set());
}

/** Go's `json.Marshal(v)`: compact, same escaping. */
export function goMarshal(value: unknown): string {
  return encode(value, null, 0, '', new Set());
}

/** A Go map built from a record or entry list, so that its keys are written sorted. null/undefined stay as they are. */
export function goMap<V>(record: Record<string, V> | null | undefined): Map<string, V> | null | undefined {
  if (record === null || record === undefined) return record;
  return new Map(Object.entries(record));
}

/**
 * Re-format an RFC 3339 timestamp the way Go's `time.Time` JSON round trip does: fractional seconds are cut to
 * nanoseconds and their trailing zeros dropped, and a zero UTC offset is written `Z`. Anything else is returned as is.
 */
export function goTime(value: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!m) return value;
  let frac = (m[2] ?? '').slice(0, 9).replace(/0+$/, '');
  if (frac) frac = '.' + frac;
  const zone = m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3];
  return m[1] + frac + zone;
}
