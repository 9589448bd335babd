import assert from 'node:assert/strict';
import { WharfError } from '../../src/index.js';

/** Await `p` and assert it fails with a WharfError of this code; returns the error for further checks. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<WharfError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof WharfError, `expected a WharfError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}
