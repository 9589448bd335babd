import { resolve } from 'node:path';
import type { Context, ImageDestination, ImageReference, ImageSource, Transport } from '../types.js';
import { OciLayoutDestination } from './destination.js';
import { LayoutStyleReference, splitLayoutReference } from './reference-name.js';
import { OciLayoutSource } from './source.js';

/** `oci:PATH[:NAME|:@N]`: an OCI image layout directory, as skopeo writes the reference. */
export class OciLayoutReference extends LayoutStyleReference implements ImageReference {
  readonly transport: Transport = ociLayoutTransport;

  async newSource(_ctx?: Context): Promise<ImageSource> {
    return OciLayoutSource.open(this, resolve(this.path), this.selector());
  }

  async newDestination(_ctx?: Context): Promise<ImageDestination> {
    this.checkWritable();
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
export { blobPath, readIndex } from '../../oci/layout.js';
