/**
 * JSON from an image, read defensively: parse errors become warnings, and the values are looked at only
 * through own properties (`Object.hasOwn`), never merged into other objects, so a `__proto__` or `constructor`
 * key in a lockfile is just a key.
 */
import type { FileWarnings } from './warnings.js';

export type JsonObject = { readonly [key: string]: unknown };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An own property of a parsed JSON object (not one inherited from Object.prototype). */
export function own(o: JsonObject, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** An own string property, or undefined. */
export function ownString(o: JsonObject, key: string): string | undefined {
  const v = own(o, key);
  return typeof v === 'string' ? v : undefined;
}

/** The file as a JSON object, or undefined with a warning. A UTF-8 byte order mark is allowed. */
export function parseJsonObject(data: Buffer, w: FileWarnings): JsonObject | undefined {
  let text = data.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    w.warn(`not valid JSON (${(err as Error).message.slice(0, 120)}); skipped`);
    return undefined;
  }
  if (!isObject(value)) {
    w.warn(`a JSON ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}, not an object; skipped`);
    return undefined;
  }
  return value;
}
