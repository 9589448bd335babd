/**
 * Warnings about one file, capped: a file of binary junk would otherwise say the same thing a million times.
 * The first few problems are told as they come, the rest are counted and told once at the end.
 */
import type { WarningHandler } from './types.js';

export class FileWarnings {
  private told = 0;
  private more = 0;

  constructor(
    readonly path: string,
    private readonly onWarning: WarningHandler | undefined,
    private readonly limit = 10,
  ) {}

  warn(message: string): void {
    if (this.told < this.limit) {
      this.told++;
      this.onWarning?.(`${this.path}: ${message}`);
    } else {
      this.more++;
    }
  }

  /** Tell how many problems were not told one by one. Call once, when the file is done. */
  finish(): void {
    if (this.more > 0) this.onWarning?.(`${this.path}: ${this.more} more problems not shown`);
    this.more = 0;
  }
}

/** A value safe to quote in a warning: control characters escaped, cut to a readable length. */
export function quote(value: string, max = 60): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut);
}

/**
 * Any JSON value, shown safely in a warning: strings quoted, other values by kind. Never calls the value's
 * own methods (a parsed `{"toString": 1}` would make `String(v)` throw) and never walks it (it may be deep).
 */
export function show(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return `${v}`;
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}
