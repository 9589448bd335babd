import { WharfError } from '../errors.js';
import type { ImageReference, Transport } from './types.js';

/**
 * The transports wharf knows, by name. A value, not a global: the library's default set is built in
 * transports/index.ts, and callers can make their own.
 */
export class TransportRegistry {
  private readonly byName = new Map<string, Transport>();

  constructor(transports: Transport[] = []) {
    for (const t of transports) this.add(t);
  }

  add(transport: Transport): void {
    this.byName.set(transport.name, transport);
  }

  get(name: string): Transport | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  /** Parse `transport:within` (skopeo's syntax). */
  parse(reference: string): ImageReference {
    const colon = reference.indexOf(':');
    if (colon <= 0) {
      throw new WharfError('INVALID_REFERENCE', `invalid image reference "${clip(reference)}": no transport`, {
        hint: `write it as TRANSPORT:LOCATION, e.g. oci:./layout:latest (transports: ${this.names().join(', ')})`,
      });
    }
    const name = reference.slice(0, colon);
    const transport = this.byName.get(name);
    if (!transport) {
      throw new WharfError('UNKNOWN_TRANSPORT', `unknown transport "${clip(name)}" in "${clip(reference)}"`, {
        hint: `known transports: ${this.names().join(', ')}`,
      });
    }
    return transport.parse(reference.slice(colon + 1));
  }
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
