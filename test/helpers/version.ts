/** Shared checks for the version comparators' tests: both directions of every vector, and the error they raise. */
import assert from 'node:assert/strict';
import { WharfError } from '../../src/errors.js';

export type Want = -1 | 0 | 1;

/** A version as an assertion message shows it: hostile ones are a megabyte long. */
export function label(v: string): string {
  return v.length > 48 ? `${JSON.stringify(v.slice(0, 24))}… (${v.length} characters)` : JSON.stringify(v);
}

/** compare(a, b) is want and compare(b, a) is its opposite; both versions also equal themselves. */
export function checkBothWays(compare: (a: string, b: string) => number, a: string, b: string, want: Want, what = ''): void {
  assert.equal(compare(a, b), want, `${what}${label(a)} vs ${label(b)}`);
  assert.equal(compare(b, a), want === 0 ? 0 : -want, `${what}${label(b)} vs ${label(a)} (reversed)`);
  assert.equal(compare(a, a), 0, `${label(a)} vs itself`);
  assert.equal(compare(b, b), 0, `${label(b)} vs itself`);
}

/** fn throws VERSION_INVALID with a hint and a message that quotes a bounded part of the version. */
export function expectInvalid(fn: () => unknown, what: string): WharfError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WharfError, `${what}: expected a WharfError, got ${String(err)}`);
    assert.equal(err.code, 'VERSION_INVALID', `${what}: ${err.code}`);
    assert.ok(err.hint, `${what}: the error says what a version looks like`);
    assert.ok(err.message.length < 300, `${what}: the message quotes a bounded part of the version`);
    return err;
  }
  assert.fail(`${what}: expected VERSION_INVALID`);
}
