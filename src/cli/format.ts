/** Formatting for people: sizes, rates, ages, short digests, shell words, aligned key/value views. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * Bytes in binary units with one decimal: `0 B`, `512 B`, `1.0 KiB`, `12.3 MiB`. Negative (unknown) sizes print `?`.
 * The unit steps up at 1024 after rounding, so 1048575 bytes is `1.0 MiB`, never `1024.0 KiB`.
 */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (unit < UNITS.length - 1 && value >= 1024) {
    value /= 1024;
    unit++;
  }
  if (unit < UNITS.length - 1 && Number(value.toFixed(1)) >= 1024) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Bytes per second in binary units: `12.3 MiB/s`. */
export function humanRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) return '? B/s';
  return `${humanSize(bytesPerSecond)}/s`;
}

/** `sha256:28a8c21a8fafdef…` → `28a8c21a8faf` (12 hex characters, as skopeo's progress bars show). */
export function shortDigest(digest: string, length = 12): string {
  const colon = digest.indexOf(':');
  return digest.slice(colon + 1, colon + 1 + length);
}

/** A coarse age: `just now`, `5 minutes ago`, `3 days ago`, `2 years ago`; empty when the date cannot be read. */
export function humanAge(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'in the future';
  const steps: [number, string][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [30, 'day'],
    [12, 'month'],
    [Number.POSITIVE_INFINITY, 'year'],
  ];
  let v = s;
  for (const [size, name] of steps) {
    if (v < size) {
      if (name === 'second' && v < 10) return 'just now';
      return `${v} ${name}${v === 1 ? '' : 's'} ago`;
    }
    v = Math.floor(v / size);
  }
  return '';
}

/** Quote a word for a POSIX shell when it needs it (so Entrypoint/Cmd read as what would be run). */
export function shellWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellWords(words: readonly string[]): string {
  return words.map(shellWord).join(' ');
}

/** Strip characters that would move the cursor or change the terminal when printed (untrusted image metadata). */
export function sanitizeForTerminal(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * An aligned key/value view like `oc image info`: each row is a label and one or more lines; rows without lines
 * are left out; continuation lines are indented under the first.
 */
export function keyValueTable(rows: [label: string, lines: string | string[] | undefined][]): string {
  const present = rows
    .map(([label, lines]) => [label, lines === undefined ? [] : Array.isArray(lines) ? lines : [lines]] as const)
    .filter(([, lines]) => lines.length > 0 && !(lines.length === 1 && lines[0] === ''));
  const width = Math.max(0, ...present.map(([label]) => label.length + 1)) + 1;
  let out = '';
  for (const [label, lines] of present) {
    lines.forEach((line, i) => {
      const head = i === 0 ? `${label}:`.padEnd(width) : ' '.repeat(width);
      out += (head + sanitizeForTerminal(line)).trimEnd() + '\n';
    });
  }
  return out;
}

/** Fit a line to a terminal width (so redraws never wrap), counting UTF-16 units, which is enough for our ASCII. */
export function fitWidth(line: string, columns: number): string {
  if (columns <= 0 || line.length < columns) return line;
  return line.slice(0, Math.max(0, columns - 1));
}
