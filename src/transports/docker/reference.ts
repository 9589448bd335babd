import { WharfError } from '../../errors.js';
import { DockerReference, parseDockerReference } from '../../reference/index.js';
import type { Context, ImageDestination, ImageReference, ImageSource, Transport } from '../types.js';
import { DockerDestination } from './destination.js';
import { DockerSource } from './source.js';

/**
 * `docker://[registry[:port]/]repository[:tag|@digest]`: an image in a registry. A reference that names no
 * registry (`docker://busybox`) is a short name: registries.conf's unqualified-search-registries are tried in
 * order (docker.io when there are none), and the one used is reported.
 */
export class DockerImageReference implements ImageReference {
  readonly transport = dockerTransport;
  constructor(
    /** Normalised (docker.io/library/… for short names). */
    readonly ref: DockerReference,
    /** The name as the user wrote it, when it named no registry. */
    readonly shortName?: string,
  ) {}

  toString(): string {
    return `docker://${this.shortName !== undefined ? this.shortName + suffix(this.ref) : this.ref.toString()}`;
  }

  dockerReference(): DockerReference {
    return this.ref.tagNameOnly();
  }

  newSource(ctx: Context = {}): Promise<ImageSource> {
    return DockerSource.open(this, ctx);
  }

  newDestination(ctx: Context = {}): Promise<ImageDestination> {
    if (this.shortName !== undefined && ctx.registry?.registries?.unqualifiedSearchRegistries.length) {
      throw new WharfError('INVALID_REFERENCE', `"${this.shortName}" names no registry, so wharf cannot tell where to push it`, {
        hint: `write the registry in full, e.g. docker://${this.ref.toString()}`,
      });
    }
    return DockerDestination.open(this, ctx);
  }
}

function suffix(ref: DockerReference): string {
  return `${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

export const dockerTransport: Transport = {
  name: 'docker',
  parse(within: string): ImageReference {
    if (!within.startsWith('//')) {
      throw new WharfError('INVALID_REFERENCE', `invalid reference "docker:${within.slice(0, 100)}": expected docker://`, {
        hint: 'write it as docker://REGISTRY/REPOSITORY[:TAG|@DIGEST], e.g. docker://quay.io/podman/stable:latest',
      });
    }
    const name = within.slice(2);
    const ref = parseDockerReference(name);
    const slash = name.indexOf('/');
    const first = slash < 0 ? '' : name.slice(0, slash);
    const explicitDomain = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
    if (explicitDomain) return new DockerImageReference(ref);
    const at = name.search(/[:@]/);
    return new DockerImageReference(ref, at < 0 ? name : name.slice(0, at));
  },
};
