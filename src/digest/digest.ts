import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, WharfError } from '../errors.js';

/** A content digest as the OCI image-spec writes it: `algorithm:encoded`. */
export type Digest = `${string}:${string}`;

const ALGORITHMS: Record<string, { node: string; hexLength: number }> = {
  sha256: { node: 'sha256', hexLength: 64 },
  sha512: { node: 'sha512', hexLength: 128 },
};

/** Parse and validate a digest string; throws INVALID_DIGEST naming what is wrong. */
export function parseDigest(value: string): Digest {
  if (typeof value !== 'string') throw new WharfError('INVALID_DIGEST', 'digest is not a string');
  const colon = value.indexOf(':');
  if (colon <= 0) throw new WharfError('INVALID_DIGEST', `invalid digest "${clip(value)}": expected algorithm:hex`);
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  const spec = ALGORITHMS[algorithm];
  if (!spec) {
    throw new WharfError('INVALID_DIGEST', `unsupported digest algorithm "${clip(algorithm)}"`, {
      hint: 'wharf supports sha256 and sha512',
    });
  }
  if (encoded.length !== spec.hexLength || !/^[a-f0-9]+$/.test(encoded)) {
    throw new WharfError('INVALID_DIGEST', `invalid ${algorithm} digest "${clip(value)}"`, {
      hint: `the encoded part must be ${spec.hexLength} lowercase hex characters`,
    });
  }
  return value as Digest;
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestAlgorithm(digest: Digest): string {
  return digest.slice(0, digest.indexOf(':'));
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function newHasher(algorithm = 'sha256'): Hash {
  const spec = ALGORITHMS[algorithm];
  if (!spec) throw new WharfError('INVALID_DIGEST', `unsupported digest algorithm "${clip(algorithm)}"`);
  return createHash(spec.node);
}

export function digestOf(data: Uint8Array | string, algorithm = 'sha256'): Digest {
  return `${algorithm}:${newHasher(algorithm).update(data).digest('hex')}` as Digest;
}

export interface VerifyExpectation {
  digest?: Digest;
  /** -1 or undefined: size unknown. */
  size?: number;
  /** Where the bytes come from, for error messages ("blob sha256:… from oci:/x"). */
  where?: string;
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end (before the last byte is
 * acknowledged) when the size or digest is not what was expected. It also fails early as soon as more bytes
 * than expected arrive, so a hostile source cannot make us read forever.
 */
export class DigestingStream extends Transform {
  readonly algorithm: string;
  private readonly hash: Hash;
  private readonly expected: VerifyExpectation;
  bytes = 0;
  private result: Digest | undefined;

  constructor(expected: VerifyExpectation = {}, algorithm?: string) {
    super();
    this.expected = expected;
    this.algorithm = algorithm ?? (expected.digest ? digestAlgorithm(expected.digest) : 'sha256');
    this.hash = newHasher(this.algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const size = this.expected.size;
    if (size !== undefined && size >= 0 && this.bytes > size) {
      done(sizeError(this.expected, this.bytes, true));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const size = this.expected.size;
    if (size !== undefined && size >= 0 && this.bytes !== size) {
      done(sizeError(this.expected, this.bytes, false));
      return;
    }
    this.result = `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
    if (this.expected.digest && this.result !== this.expected.digest) {
      done(new DigestMismatchError(this.expected.digest, this.result, this.expected.where ?? 'blob'));
      return;
    }
    done();
  }

  /** The digest of everything that passed; only valid after the stream ended without error. */
  digest(): Digest {
    if (!this.result) throw new WharfError('IO_ERROR', 'digest requested before the stream finished');
    return this.result;
  }
}

function sizeError(expected: VerifyExpectation, got: number, early: boolean): WharfError {
  return new WharfError(
    'SIZE_MISMATCH',
    `${expected.where ?? 'blob'}: ${early ? 'more than' : 'got'} ${got} bytes, expected ${expected.size}`,
    { hint: 'the source is corrupt or truncated; nothing was written to the destination' },
  );
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
