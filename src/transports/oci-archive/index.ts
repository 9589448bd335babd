/**
 * `oci-archive:PATH[:NAME|:@N]`: a tar of an OCI image layout (oci-layout, index.json, blobs/…), as skopeo
 * reads and writes it. The path ends at the first colon, as in containers/image; `:NAME` is the image's
 * org.opencontainers.image.ref.name, `:@N` the N-th entry of index.json (reading only).
 */
import { resolve } from 'node:path';
import { LayoutStyleReference, splitLayoutReference } from '../oci-layout/reference-name.js';
import type { Context, ImageDestination, ImageReference, ImageSource, Transport } from '../types.js';
import { OciArchiveDestination } from './destination.js';
import { OciArchiveSource } from './source.js';

export class OciArchiveReference extends LayoutStyleReference implements ImageReference {
  readonly transport: Transport = ociArchiveTransport;

  async newSource(ctx: Context = {}): Promise<ImageSource> {
    return OciArchiveSource.open(this, resolve(this.path), this.selector(), ctx);
  }

  async newDestination(ctx: Context = {}): Promise<ImageDestination> {
    this.checkWritable();
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
