import { WharfError } from '../../errors.js';
import { parseDockerReference, type DockerReference } from '../../reference/index.js';
import type { Context, ImageDestination, ImageReference, ImageSource, Transport } from '../types.js';
import { DockerArchiveDestination, type DockerArchiveDestinationOptions } from './destination.js';
import { DockerArchiveSource } from './source.js';

export const DOCKER_ARCHIVE = 'docker-archive';

const SYNTAX_HINT = 'write it as docker-archive:PATH, docker-archive:PATH:NAME:TAG or (for reading) docker-archive:PATH:@INDEX';

function invalid(within: string, what: string): WharfError {
  const shown = within.length > 120 ? `${within.slice(0, 117)}...` : within;
  return new WharfError('INVALID_REFERENCE', `invalid reference "${DOCKER_ARCHIVE}:${shown}": ${what}`, { hint: SYNTAX_HINT });
}

/**
 * `docker-archive:PATH[:DOCKER-REFERENCE]` or `docker-archive:PATH:@INDEX`, as skopeo parses it: the path ends
 * at the first colon. The docker reference is normalised (`busybox` → `docker.io/library/busybox:latest`) and
 * may not carry a digest; `@INDEX` picks the N-th image (from 0) of the archive's manifest.json and is only
 * meaningful for reading.
 */
export class DockerArchiveReference implements ImageReference {
  readonly transport: Transport = dockerArchiveTransport;

  private constructor(
    readonly path: string,
    /** The tagged reference the user named, if any. */
    readonly ref: DockerReference | undefined,
    /** The index into manifest.json the user named with `:@N`, if any. */
    readonly index: number | undefined,
  ) {}

  static parse(within: string): DockerArchiveReference {
    if (typeof within !== 'string' || within.length === 0) throw invalid(String(within ?? ''), 'the path is empty');
    const colon = within.indexOf(':');
    const path = colon < 0 ? within : within.slice(0, colon);
    if (path.length === 0) throw invalid(within, 'the path is empty');
    if (path.includes('\0')) throw invalid(within, 'the path contains a NUL byte');
    if (colon < 0) return new DockerArchiveReference(path, undefined, undefined);
    const rest = within.slice(colon + 1);
    if (rest.length === 0) throw invalid(within, `nothing follows "${path}:" (expected NAME:TAG or @INDEX)`);
    if (rest.startsWith('@')) {
      const n = rest.slice(1);
      if (!/^[0-9]{1,9}$/.test(n)) throw invalid(within, `"@${n.slice(0, 40)}" is not a valid image index (expected @0, @1, …)`);
      return new DockerArchiveReference(path, undefined, Number(n));
    }
    let ref: DockerReference;
    try {
      ref = parseDockerReference(rest);
    } catch (err) {
      throw new WharfError('INVALID_REFERENCE', `invalid reference "${DOCKER_ARCHIVE}:${within}": the image name "${rest}" is not valid: ${(err as WharfError).message}`, {
        hint: (err as WharfError).hint ?? SYNTAX_HINT,
        cause: err,
      });
    }
    if (ref.digest) {
      throw invalid(within, `"${rest}" has a digest; docker-archive names images by NAME:TAG only`);
    }
    return new DockerArchiveReference(path, ref.tagNameOnly(), undefined);
  }

  /** A reference to PATH with an optional tag, built without parsing a string. */
  static of(path: string, ref?: DockerReference | string): DockerArchiveReference {
    if (path.includes(':')) invalidPath(path);
    return DockerArchiveReference.parse(ref === undefined ? path : `${path}:${typeof ref === 'string' ? ref : ref.toString()}`);
  }

  toString(): string {
    if (this.ref) return `${DOCKER_ARCHIVE}:${this.path}:${this.ref.toString()}`;
    if (this.index !== undefined) return `${DOCKER_ARCHIVE}:${this.path}:@${this.index}`;
    return `${DOCKER_ARCHIVE}:${this.path}`;
  }

  dockerReference(): DockerReference | undefined {
    return this.ref;
  }

  newSource(ctx: Context = {}): Promise<ImageSource> {
    return DockerArchiveSource.open(this, ctx);
  }

  newDestination(ctx: Context = {}, options: DockerArchiveDestinationOptions = {}): Promise<ImageDestination> {
    const additionalTags = [...(ctx.additionalTags ?? []), ...(options.additionalTags ?? [])];
    return DockerArchiveDestination.open(this, ctx, additionalTags.length ? { ...options, additionalTags } : options);
  }
}

function invalidPath(path: string): never {
  throw invalid(path, `the path "${path}" contains a colon, which the docker-archive syntax cannot express`);
}

export const dockerArchiveTransport: Transport = {
  name: DOCKER_ARCHIVE,
  parse(within: string): ImageReference {
    return DockerArchiveReference.parse(within);
  },
};
