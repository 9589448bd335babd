/** The one error of this folder, and a capped warning sink: a database of junk must not say the same thing a million times. */
import { WharfError } from '../../errors.js';

const HINT =
  'the rpm database in the image is damaged or is not the format its name says; `rpm --rebuilddb` inside the image rebuilds it';

/** RPMDB_INVALID, with the file it is about in front of the message. */
export function rpmdbInvalid(path: string, message: string): WharfError {
  return new WharfError('RPMDB_INVALID', `${path}: ${message}`, { hint: HINT });
}

/** Told about each package skipped and why; the scan goes on. */
export type RpmWarningHandler = (message: string) => void;

/** At most ten warnings are told one by one, the rest counted and told once by finish(). */
export { FileWarnings as CappedWarnings } from '../file-warnings.js';

/** The message of anything thrown, for a warning. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
