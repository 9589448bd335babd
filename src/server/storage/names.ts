import { apiError } from '../errors.js';

/**
 * Repository names and tags as the distribution spec defines them. A name becomes a path below the storage root,
 * so this grammar is also what keeps a request inside it: no component can be `.`, `..`, empty, or start with a
 * dot (the server's own `.wharf/` folder), and no percent-decoding happens after this check.
 */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** distribution's limit on the whole name (registry + name ≤ 255 in docker's reference grammar). */
export const MAX_NAME_LENGTH = 255;
/**
 * Each repository is an OCI image layout in the folder its name gives; a nested repository lives inside its
 * parent's folder, so a component may not be a name the layout itself uses.
 */
const RESERVED_COMPONENTS = new Set(['blobs', 'index.json', 'oci-layout', 'index.json.lock']);

export function validateRepositoryName(name: string): string {
  if (name.length === 0) throw apiError.nameInvalid('the name is empty');
  if (name.length > MAX_NAME_LENGTH) throw apiError.nameInvalid(`longer than ${MAX_NAME_LENGTH} characters`);
  for (const component of name.split('/')) {
    if (!COMPONENT.test(component)) {
      throw apiError.nameInvalid(`"${clip(component)}" is not a valid path component (lowercase letters and digits, joined by . _ __ or -)`);
    }
    if (RESERVED_COMPONENTS.has(component)) {
      throw apiError.nameInvalid(`"${component}" cannot be a path component here: a repository is an OCI layout, which uses that name`);
    }
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 40 ? `${printable.slice(0, 37)}...` : printable;
}
