/** Warnings for the cataloguers: the shared capped sink, and safe quoting of what a file holds. */
export { FileWarnings } from '../file-warnings.js';

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
