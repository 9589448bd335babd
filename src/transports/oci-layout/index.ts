import { resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import type { DockerReference } from '../../reference/index.js';
import type { Context, ImageDestination, ImageReference, ImageSource, Transport } from '../types.js';
import { OciLayoutDestination } from './destination.js';
import { splitLayoutReference } from './reference-name.js';
import { OciLayoutSource } from './source.js';

/** `oci:PATH[:NAME|:@N]`: an OCI image layout directory, as skopeo writes the reference. */
export class OciLayoutReference implements ImageReference {
  readonly transport = ociLayoutTransport;
  constructor(
    /** The directory as given (relative paths resolve against the process's cwd when opened). */
    readonly path: string,
    readonly name?: string,
    readonly sourceIndex?: number,
  ) {}

  toString(): string {
    const suffix = this.name !== undefined ? `:${this.name}` : this.sourceIndex !== undefined ? `:@${this.sourceIndex}` : '';
    return `oci:${this.path}${suffix}`;
  }

  dockerReference(): DockerReference | undefined {
    return undefined;
  }

  async newSource(_ctx?: Context): Promise<ImageSource> {
    const selector: { name?: string; sourceIndex?: number } = {};
    if (this.name !== undefined) selector.name = this.name;
    if (this.sourceIndex !== undefined) selector.sourceIndex = this.sourceIndex;
    return OciLayoutSource.open(this, resolve(this.path), selector);
  }

  async newDestination(_ctx?: Context): Promise<ImageDestination> {
    if (this.sourceIndex !== undefined) {
      throw new WharfError('INVALID_REFERENCE', `${this.toString()}: @N can only be read from, not written to`, {
        hint: 'name the image to write, e.g. oci:DIR:latest',
      });
    }
    return OciLayoutDestination.open(this, resolve(this.path), this.name);
  }
}

export const ociLayoutTransport: Transport = {
  name: 'oci',
  parse(within: string): ImageReference {
    const { path, name, sourceIndex } = splitLayoutReference(within, 'oci');
    return new OciLayoutReference(path, name, sourceIndex);
  },
};

export { OciLayoutDestination } from './destination.js';
export { OciLayoutSource, selectDescriptor } from './source.js';
export { REF_NAME_ANNOTATION, splitLayoutReference, validateRefName } from './reference-name.js';
export { blobPath, readIndex } from './layout.js';
