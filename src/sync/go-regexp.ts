/**
 * skopeo compiles `images-by-tag-regex` with Go's regexp package (RE2 syntax) and matches it anywhere in the
 * tag (unanchored, like JavaScript's `test`). This turns an RE2 pattern into an equivalent JavaScript RegExp,
 * and refuses what RE2 refuses (backreferences, lookaround) or what JavaScript cannot express the same way,
 * so a pattern never silently means something else here than in skopeo.
 *
 * Handled: leading flag groups `(?i)`, `(?s)`, `(?m)`; `(?P<name>…)`; `\A`, `\z`; `\Q…\E`; `\x{HH}`; `\a`;
 * POSIX classes such as `[[:alpha:]]`; a `]` first in a class; repetition counts up to 1000.
 */
import { WharfError } from '../errors.js';

export const MAX_PATTERN_LENGTH = 4096;

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Escapes RE2 and JavaScript read the same way. */
const SAME_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'b', 'B', 'f', 'n', 'r', 't', 'v']);

export class GoRegexpError extends Error {}

/** Compile an RE2 pattern to a RegExp with the same meaning; throws GoRegexpError saying what is wrong. */
export function compileGoRegexp(pattern: string): RegExp {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new GoRegexpError(`it is longer than ${MAX_PATTERN_LENGTH} characters`);
  let flags = '';
  let i = 0;
  // Flags at the very start apply to the whole pattern, which JavaScript can express.
  for (;;) {
    const m = /^\(\?([imsU]+)\)/.exec(pattern.slice(i));
    if (!m) break;
    for (const f of m[1]!) {
      if (f === 'U') throw new GoRegexpError('the ungreedy flag (?U) has no JavaScript equivalent');
      if (!flags.includes(f)) flags += f;
    }
    i += m[0].length;
  }
  let out = '';
  let inClass = false;
  let classStart = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) throw new GoRegexpError('it ends with a lone backslash');
      i += 2;
      if (next === 'Q') {
        const end = pattern.indexOf('\\E', i);
        const literal = end < 0 ? pattern.slice(i) : pattern.slice(i, end);
        out += literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end < 0 ? pattern.length : end + 2;
      } else if (next === 'A' && !inClass) {
        out += '(?<![\\s\\S])';
      } else if (next === 'z' && !inClass) {
        out += '(?![\\s\\S])';
      } else if (next === 'a') {
        out += '\\x07';
      } else if (next === 'x') {
        const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(pattern.slice(i));
        const plain = /^[0-9A-Fa-f]{2}/.exec(pattern.slice(i));
        if (braced) {
          const code = parseInt(braced[1]!, 16);
          if (code > 0xffff) throw new GoRegexpError(`\\x{${braced[1]}} is outside what a tag can hold`);
          out += `\\u${code.toString(16).padStart(4, '0')}`;
          i += braced[0].length;
        } else if (plain) {
          out += `\\x${plain[0]}`;
          i += 2;
        } else {
          throw new GoRegexpError('invalid \\x escape');
        }
      } else if (SAME_ESCAPES.has(next) && !(inClass && (next === 'b' || next === 'B'))) {
        out += `\\${next}`;
      } else if (/[0-9]/.test(next)) {
        throw new GoRegexpError(`\\${next}: backreferences and octal escapes are not supported`);
      } else if (next === 'p' || next === 'P') {
        throw new GoRegexpError(`\\${next}: Unicode classes are not supported in tag patterns`);
      } else if (/[A-Za-z]/.test(next)) {
        throw new GoRegexpError(`invalid escape sequence \\${next}`);
      } else {
        // Escaped punctuation is the character itself in both.
        out += `\\${next}`;
      }
      classStart = false;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(i));
        if (m) {
          const expansion = POSIX_CLASSES[m[2]!];
          if (!expansion) throw new GoRegexpError(`invalid character class range [:${m[2]}:]`);
          if (m[1]) throw new GoRegexpError(`negated POSIX classes such as [:^${m[2]}:] are not supported`);
          out += expansion;
          i += m[0].length;
          classStart = false;
          continue;
        }
      }
      if (c === ']' && !classStart) {
        inClass = false;
        out += ']';
      } else if (c === ']' || c === '[') {
        out += `\\${c}`;
      } else {
        out += c;
      }
      classStart = false;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      i++;
      if (pattern[i] === '^') {
        out += '^';
        i++;
      }
      classStart = true;
      continue;
    }
    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2);
      if (rest.startsWith(':')) {
        out += '(?:';
        i += 3;
      } else if (/^P?<[A-Za-z_][A-Za-z0-9_]*>/.test(rest)) {
        const m = /^P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest)!;
        out += `(?<${m[1]}>`;
        i += 2 + m[0].length;
      } else if (/^(?:=|!|<=|<!)/.test(rest)) {
        throw new GoRegexpError('lookahead and lookbehind (?= (?! (?<= (?<! are not supported (RE2 syntax)');
      } else {
        throw new GoRegexpError(`flags inside the pattern ("(?${rest.slice(0, 6)}") are not supported; put (?i) at the very start`);
      }
      continue;
    }
    if (c === '{') {
      const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(pattern.slice(i));
      if (m) {
        const min = Number(m[1]);
        const max = m[3] ? Number(m[3]) : min;
        if (min > 1000 || max > 1000) throw new GoRegexpError(`invalid repeat count ${m[0]} (at most 1000)`);
        if (m[3] && max < min) throw new GoRegexpError(`invalid repeat count ${m[0]}`);
      }
    }
    out += c;
    i++;
  }
  if (inClass) throw new GoRegexpError('missing closing ] of a character class');
  try {
    return new RegExp(out, flags);
  } catch (err) {
    throw new GoRegexpError((err as Error).message.replace(/^Invalid regular expression: /, ''));
  }
}

/** The same, as a WharfError naming where the pattern came from. */
export function compileTagRegexp(pattern: string, where: string): RegExp {
  try {
    return compileGoRegexp(pattern);
  } catch (err) {
    if (!(err instanceof GoRegexpError)) throw err;
    throw new WharfError('USAGE', `${where}: invalid regular expression ${JSON.stringify(pattern.length > 100 ? `${pattern.slice(0, 97)}...` : pattern)}: ${err.message}`, {
      hint: 'images-by-tag-regex takes a Go (RE2) regular expression matched anywhere in the tag, e.g. ^v1\\.[0-9]+$',
    });
  }
}
