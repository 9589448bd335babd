/**
 * `oci-archive:PATH[:NAME|:@N]`: a tar of an OCI image layout (oci-layout, index.json, blobs/…), as skopeo
 * reads and writes it. The path ends at the first colon, as in containers/image; `:NAME` is the image's
 * org.opencontainers.image.ref.name, `:@N` the N-th entry of index.json (reading only).
 */
import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import type { DockerReference } from '../../reference/index.js';
import { splitLayoutReference } from '../oci-layout/reference-name.js';
import type { Context, ImageDestination, ImageReference, ImageSource, Transport } from '../types.js';
import { OciArchiveDestination } from './destination.js';
import { OciArchiveSource } from './source.js';

export class OciArchiveReference implements ImageReference {
  readonly transport: Transport = ociArchiveTransport;

  constructor(
    /** The archive as given (relative paths resolve against the process's cwd when opened). */
    readonly path: string,
    readonly name?: string,
    readonly sourceIndex?: number,
  ) {}

  toString(): string {
    const suffix = this.name !== undefined ? `:${this.name}` : this.sourceIndex !== undefined ? `:@${this.sourceIndex}` : '';
    return `oci-archive:${this.path}${suffix}`;
  }

  dockerReference(): DockerReference | undefined {
    return undefined;
  }

  async newSource(ctx: Context = {}): Promise<ImageSource> {
    const selector: { name?: string; sourceIndex?: number } = {};
    if (this.name !== undefined) selector.name = this.name;
    if (this.sourceIndex !== undefined) selector.sourceIndex = this.sourceIndex;
    return OciArchiveSource.open(this, resolve(this.path), selector, ctx);
  }

  async newDestination(ctx: Context = {}): Promise<ImageDestination> {
    if (this.sourceIndex !== undefined) {
      throw new WharfError('INVALID_REFERENCE', `${this.toString()}: @N can only be read from, not written to`, {
        hint: 'name the image to write, e.g. oci-archive:FILE.tar:latest',
      });
    }
    return OciArchiveDestination.open(this, resolve(this.path), this.name, ctx);
  }
}

export const ociArchiveTransport: Transport = {
  name: 'oci-archive',
  parse(within: string): ImageReference {
    const { path, name, sourceIndex } = splitLayoutReference(within, 'oci-archive');
    return new OciArchiveReference(path, name, sourceIndex);
  },
};

export { OciArchiveSource } from './source.js';
export { OciArchiveDestination } from './destination.js';
export { OciArchiveReader, MAX_OCI_LAYOUT_BYTES, type OciArchiveReaderOptions } from './archive.js';
