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

/** At most `limit` warnings are told one by one, the rest counted and told once by finish(). */
export class CappedWarnings {
  private told = 0;
  private more = 0;

  constructor(
    readonly path: string,
    private readonly onWarning: RpmWarningHandler | undefined,
    private readonly limit = 10,
  ) {}

  warn(message: string): void {
    if (this.told < this.limit) {
      this.told++;
      this.onWarning?.(`${this.path}: ${message}`);
    } else {
      this.more++;
    }
  }

  finish(): void {
    if (this.more > 0) this.onWarning?.(`${this.path}: ${this.more} more problems not shown`);
    this.more = 0;
  }
}

/** The message of anything thrown, for a warning. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
