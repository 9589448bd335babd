/**
 * A small command-line parser with the rules of Go's pflag (what skopeo uses), so flags are written the same way:
 *
 * - `--name value`, `--name=value`; `-n value`, `-nvalue`, `-n=value`; boolean short flags group: `-qa`.
 * - Boolean flags take no separate value; `--flag=true|false` sets one explicitly.
 * - Flags and operands may be mixed (`wharf copy SRC --all DEST`); `--` ends flags; a lone `-` is an operand.
 * - A flag given twice keeps the last value, unless it is repeatable, which collects every value in order.
 * - Unknown flags and missing values are usage errors (exit code 2) with a "did you mean" hint.
 */
import { WharfError } from '../errors.js';

export type FlagType = 'boolean' | 'string' | 'int';

export interface FlagSpec {
  /** Long name without dashes: `format`. */
  name: string;
  /** One-letter alias without the dash: `f`. */
  short?: string;
  type: FlagType;
  /** Collect every occurrence into a list. */
  repeatable?: boolean;
  /** Allowed values (string flags). */
  choices?: readonly string[];
  /** Placeholder shown in help: `FORMAT`, `DIR`. */
  placeholder?: string;
  help: string;
}

export type FlagValue = boolean | string | number | string[];

export class ParsedArgs {
  constructor(
    readonly flags: ReadonlyMap<string, FlagValue>,
    readonly operands: readonly string[],
    /** Everything from the first operand on, when parsing stopped there (stopAtOperand). */
    readonly rest: readonly string[] = [],
  ) {}

  has(name: string): boolean {
    return this.flags.has(name);
  }

  bool(name: string): boolean {
    return this.flags.get(name) === true;
  }

  str(name: string): string | undefined {
    const v = this.flags.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  int(name: string): number | undefined {
    const v = this.flags.get(name);
    return typeof v === 'number' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.flags.get(name);
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }
}

/** A usage error: exit code 2, printed with its hint. */
export function usageError(message: string, hint?: string): WharfError {
  return new WharfError('USAGE', message, hint === undefined ? {} : { hint });
}

export interface ParseOptions {
  /** Stop at the first operand and return it and everything after it in `rest` (for `wharf [global flags] COMMAND …`). */
  stopAtOperand?: boolean;
  /** For messages: `wharf copy`. */
  command?: string;
  /** Extra words to suggest for an unknown flag when a near match is not found here, e.g. flags of subcommands. */
  elsewhere?: (name: string) => string | undefined;
}

function flagLabel(spec: FlagSpec): string {
  return `--${spec.name}`;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], options: ParseOptions = {}): ParsedArgs {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    if (s.short) byShort.set(s.short, s);
  }
  const flags = new Map<string, FlagValue>();
  const operands: string[] = [];
  const helpHint = options.command ? `run '${options.command} --help' to see its flags` : `run 'wharf --help' to see the flags`;

  const set = (spec: FlagSpec, raw: string | undefined, written: string): void => {
    let value: FlagValue;
    if (spec.type === 'boolean') {
      if (raw === undefined || raw === 'true') value = true;
      else if (raw === 'false') value = false;
      else throw usageError(`invalid value "${raw}" for ${written}: it is a boolean flag`, `write ${written} alone, or ${written}=true|false`);
    } else {
      if (raw === undefined) throw usageError(`flag ${written} needs a value`, `write ${written} ${spec.placeholder ?? 'VALUE'} or ${written}=${spec.placeholder ?? 'VALUE'}`);
      if (spec.type === 'int') {
        if (!/^-?\d+$/.test(raw.trim())) throw usageError(`invalid value "${raw}" for ${written}: expected a whole number`);
        value = Number.parseInt(raw, 10);
      } else {
        if (spec.choices && !spec.choices.includes(raw)) {
          const near = suggest(raw, spec.choices);
          throw usageError(
            `invalid value "${raw}" for ${written}`,
            `${near ? `did you mean "${near}"? ` : ''}expected one of: ${spec.choices.join(', ')}`,
          );
        }
        value = raw;
      }
    }
    if (spec.repeatable) {
      const prev = flags.get(spec.name);
      flags.set(spec.name, [...(Array.isArray(prev) ? prev : []), String(value)]);
    } else {
      flags.set(spec.name, value);
    }
  };

  const unknown = (written: string, name: string): never => {
    const near = suggest(name, [...byLong.keys()]);
    let hint: string;
    if (near) hint = `did you mean --${near}?`;
    else hint = options.elsewhere?.(name) ?? helpHint;
    throw usageError(`unknown flag ${written}${options.command ? ` for '${options.command}'` : ''}`, hint);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) return unknown(eq < 0 ? arg : arg.slice(0, eq), name);
      let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
      if (raw === undefined && spec.type !== 'boolean') {
        if (i + 1 >= argv.length) throw usageError(`flag --${name} needs a value`, `write --${name} ${spec.placeholder ?? 'VALUE'}`);
        raw = argv[++i];
      }
      set(spec, raw, flagLabel(spec));
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      // One or more short flags: -q, -qa, -f oci, -foci, -f=oci. A long name with one dash is a likely slip.
      const asLong = arg.slice(1).split('=')[0]!;
      if (asLong.length > 1 && byLong.has(asLong)) throw usageError(`unknown flag ${arg}`, `long flags take two dashes: --${asLong}`);
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        const spec = byShort.get(ch);
        if (!spec) return unknown(`-${ch}`, ch);
        if (spec.type === 'boolean') {
          if (arg[j + 1] === '=') {
            set(spec, arg.slice(j + 2), `-${ch}`);
            break;
          }
          set(spec, undefined, `-${ch}`);
          continue;
        }
        let raw: string | undefined = arg.slice(j + 1);
        if (raw.startsWith('=')) raw = raw.slice(1);
        else if (raw === '') {
          if (i + 1 >= argv.length) throw usageError(`flag -${ch} (--${spec.name}) needs a value`, `write -${ch} ${spec.placeholder ?? 'VALUE'}`);
          raw = argv[++i];
        }
        set(spec, raw, `-${ch}`);
        break;
      }
      continue;
    }
    if (options.stopAtOperand) return new ParsedArgs(flags, [], argv.slice(i));
    operands.push(arg);
  }
  return new ParsedArgs(flags, operands, []);
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The closest candidate when it is close enough to be a typo (or the word is a prefix of it), else undefined. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (!word) return undefined;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(2, Math.floor(word.length / 3)));
  if (best !== undefined && bestDistance <= limit) return best;
  const prefixed = candidates.filter((c) => c.startsWith(word));
  if (word.length >= 2 && prefixed.length === 1) return prefixed[0];
  return undefined;
}
