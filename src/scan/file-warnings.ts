/**
 * Warnings about one file, capped: a file of binary junk would otherwise say the same thing a million times.
 * The first few problems are told as they come, the rest are counted and told once at the end. Shared by the
 * package cataloguers and the rpm database readers.
 */
export class FileWarnings {
  private told = 0;
  private more = 0;

  constructor(
    readonly path: string,
    private readonly onWarning: ((message: string) => void) | undefined,
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

  /** Tell how many problems were not told one by one. Call once, when the file is done. */
  finish(): void {
    if (this.more > 0) this.onWarning?.(`${this.path}: ${this.more} more problems not shown`);
    this.more = 0;
  }
}
