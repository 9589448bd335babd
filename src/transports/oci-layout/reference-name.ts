import { WharfError } from '../../errors.js';

/**
 * The grammar of `org.opencontainers.image.ref.name` (image-spec annotations.md):
 *   ref       ::= component ("/" component)*
 *   component ::= alphanum (separator alphanum)*
 *   alphanum  ::= [A-Za-z0-9]+
 *   separator ::= [-._:@+] | "--"
 */
const REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export { REF_NAME_ANNOTATION } from '../../oci/layout.js';

export function validateRefName(name: string, input: string): string {
  if (name.length > 512 || !REF_NAME.test(name)) {
    throw new WharfError('INVALID_REFERENCE', `invalid reference "${clip(input)}": "${clip(name)}" is not a valid image name in a layout`, {
      hint: 'an oci: image name is letters and digits joined by - . _ : @ + or /, e.g. oci:./layout:v1.2',
    });
  }
  return name;
}

/**
 * Split what follows `oci:` (or `oci-archive:`) into path and image: the path ends at the first colon, as in
 * containers/image; `@N` after it selects the N-th manifest of index.json (reading only).
 */
export function splitLayoutReference(
  within: string,
  transport: string,
): { path: string; name?: string; sourceIndex?: number } {
  const colon = within.indexOf(':');
  const path = colon < 0 ? within : within.slice(0, colon);
  const rest = colon < 0 ? '' : within.slice(colon + 1);
  const input = `${transport}:${within}`;
  if (path.length === 0) {
    throw new WharfError('INVALID_REFERENCE', `invalid reference "${clip(input)}": the path is empty`, {
      hint: `write it as ${transport}:PATH[:NAME]`,
    });
  }
  if (path.includes('\0')) throw new WharfError('INVALID_REFERENCE', `invalid reference "${clip(input)}": the path contains a NUL byte`);
  if (rest === '') return { path };
  if (rest.startsWith('@')) {
    const n = rest.slice(1);
    if (!/^(0|[1-9][0-9]{0,8})$/.test(n)) {
      throw new WharfError('INVALID_REFERENCE', `invalid reference "${clip(input)}": "@${clip(n)}" is not a manifest index`, {
        hint: '@N selects the N-th manifest (from 0) of the layout\'s index.json',
      });
    }
    return { path, sourceIndex: Number(n) };
  }
  return { path, name: validateRefName(rest, input) };
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * What `oci:` and `oci-archive:` references share: a path, and an image in it named by ref.name or by position.
 * Each transport adds how it opens sources and destinations.
 */
export abstract class LayoutStyleReference {
  abstract readonly transport: { readonly name: string };

  constructor(
    /** As given (relative paths resolve against the process's cwd when opened). */
    readonly path: string,
    readonly name?: string,
    readonly sourceIndex?: number,
  ) {}

  toString(): string {
    const suffix = this.name !== undefined ? `:${this.name}` : this.sourceIndex !== undefined ? `:@${this.sourceIndex}` : '';
    return `${this.transport.name}:${this.path}${suffix}`;
  }

  dockerReference(): undefined {
    return undefined;
  }

  /** Which image of the index to read. */
  protected selector(): { name?: string; sourceIndex?: number } {
    const selector: { name?: string; sourceIndex?: number } = {};
    if (this.name !== undefined) selector.name = this.name;
    if (this.sourceIndex !== undefined) selector.sourceIndex = this.sourceIndex;
    return selector;
  }

  /** `@N` names an existing entry: it can be read, not written. */
  protected checkWritable(): void {
    if (this.sourceIndex !== undefined) {
      throw new WharfError('INVALID_REFERENCE', `${this.toString()}: @N can only be read from, not written to`, {
        hint: `name the image to write, e.g. ${this.transport.name}:${this.path}:latest`,
      });
    }
  }
}
