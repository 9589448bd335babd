/**
 * Turns the copy engine's CopyEvent stream into what a person sees on stderr.
 *
 * - On a TTY: one bar per blob (short digest, bytes/total, rate, percentage), redrawn in place with ANSI cursor
 *   movement, at most once per `minIntervalMs` (10 redraws a second by default); lines that stay (manifests written,
 *   copy done, warnings) are printed below the bars, and a new group of bars starts under them.
 * - Otherwise: one plain line per event that matters (start, done or skipped blob, manifest, end), nothing for
 *   byte counts, so logs stay short and greppable.
 *
 * The renderer never writes to stdout and never looks at the process: the writer, the TTY flag, the width and the
 * clock are handed in, so it is tested without a terminal.
 */
import type { CopyEvent } from '../copy/types.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { fitWidth, humanRate, humanSize, shortDigest } from './format.js';

export interface ProgressWriter {
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  out: ProgressWriter;
  isTTY: boolean;
  /** Terminal width; lines are cut to it so a redraw never wraps. Default 80. */
  columns?: number;
  /** Milliseconds clock (default Date.now), injectable for tests. */
  now?: () => number;
  /** Minimum time between two redraws of the bars (default 100 ms). */
  minIntervalMs?: number;
  /** Schedules a deferred redraw; returns a cancel function. Default: an unref'd setTimeout. */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

type BlobState = 'running' | 'done' | 'skipped';

interface Bar {
  digest: string;
  kind: 'config' | 'layer';
  size: number;
  bytes: number;
  startedAt: number;
  state: BlobState;
  written?: string;
}

const ESC = '\x1b[';

function defaultTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return () => clearTimeout(t);
}

/** The line a non-TTY log gets for an event, or undefined when the event is not worth a line. Exported for tests. */
export function eventLine(event: CopyEvent, kindOf: (digest: string) => 'config' | 'layer' = () => 'layer'): string | undefined {
  const noun = (digest: string): string => (kindOf(digest) === 'config' ? 'config' : 'blob');
  const sized = (size: number): string => (size >= 0 ? ` (${humanSize(size)})` : '');
  switch (event.type) {
    case 'copy-start':
      return `Copying ${event.source} to ${event.destination}`;
    case 'blob-start':
      return `Copying ${event.kind === 'config' ? 'config' : 'blob'} ${event.digest}${sized(event.size)}`;
    case 'blob-progress':
      return undefined;
    case 'blob-done':
      if (event.written !== event.digest) return `Copied ${noun(event.digest)} ${event.digest} as ${event.written}${sized(event.size)}`;
      return `Copied ${noun(event.digest)} ${event.digest}${sized(event.size)}`;
    case 'blob-skipped':
      return `Skipped ${noun(event.digest)} ${event.digest} (already present)`;
    case 'manifest-written':
      return `Writing ${isIndexMediaType(event.mediaType) ? 'index' : 'manifest'} ${event.digest}${event.instance ? ' (index member)' : ''}`;
    case 'copy-done':
      return `Copied image ${event.digest}`;
  }
}

export class ProgressRenderer {
  private readonly out: ProgressWriter;
  private readonly tty: boolean;
  private readonly columns: number;
  private readonly now: () => number;
  private readonly minInterval: number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;

  /** Bars of the current group, in the order blobs started. */
  private bars = new Map<string, Bar>();
  /** Kind of every blob seen, for lines about blobs whose bar group is gone. */
  private readonly kinds = new Map<string, 'config' | 'layer'>();
  /** How many bar lines are on screen above the cursor. */
  private drawn = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private dirty = false;
  private cancelTimer: (() => void) | undefined;
  private finished = false;

  constructor(options: ProgressOptions) {
    this.out = options.out;
    this.tty = options.isTTY;
    this.columns = options.columns && options.columns > 20 ? options.columns : 80;
    this.now = options.now ?? Date.now;
    this.minInterval = options.minIntervalMs ?? 100;
    this.setTimer = options.setTimer ?? defaultTimer;
  }

  /** Feed one event (pass this as CopyOptions.onEvent). */
  handle(event: CopyEvent): void {
    if (this.finished) return;
    if (event.type === 'blob-start') this.kinds.set(event.digest, event.kind);
    if (!this.tty) {
      const line = eventLine(event, (d) => this.kinds.get(d) ?? 'layer');
      if (line !== undefined) this.out.write(line + '\n');
      return;
    }
    switch (event.type) {
      case 'copy-start':
        this.permanent(eventLine(event)!);
        return;
      case 'blob-start': {
        const bar = this.bar(event.digest, event.kind);
        bar.size = event.size;
        bar.startedAt = this.now();
        this.schedule();
        return;
      }
      case 'blob-progress': {
        const bar = this.bar(event.digest);
        bar.bytes = event.bytes;
        if (event.size >= 0) bar.size = event.size;
        this.schedule();
        return;
      }
      case 'blob-done': {
        const bar = this.bar(event.digest);
        bar.state = 'done';
        bar.written = event.written;
        bar.bytes = event.size;
        if (bar.size < 0) bar.size = event.size;
        this.schedule();
        return;
      }
      case 'blob-skipped': {
        const bar = this.bar(event.digest);
        bar.state = 'skipped';
        bar.size = event.size;
        this.schedule();
        return;
      }
      case 'manifest-written':
      case 'copy-done':
        this.permanent(eventLine(event)!);
        return;
    }
  }

  /** Print a line that stays (a warning, say) without tearing the bars. */
  log(message: string): void {
    if (!this.tty) {
      this.out.write(message + '\n');
      return;
    }
    let s = this.drawn > 0 ? `${ESC}${this.drawn}A\r${ESC}J` : '';
    s += message + '\n';
    this.drawn = 0;
    s += this.renderBars();
    this.out.write(s);
  }

  /** Draw the final state of the bars and stop; call it when the copy ends, in success or failure. Idempotent. */
  finish(): void {
    if (this.finished) return;
    if (this.tty && this.dirty) this.draw();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.finished = true;
  }

  private bar(digest: string, kind?: 'config' | 'layer'): Bar {
    let bar = this.bars.get(digest);
    if (!bar) {
      bar = { digest, kind: kind ?? this.kinds.get(digest) ?? 'layer', size: -1, bytes: 0, startedAt: this.now(), state: 'running' };
      this.bars.set(digest, bar);
    }
    return bar;
  }

  /** Redraw now if the last redraw is old enough, else once the interval has passed. */
  private schedule(): void {
    this.dirty = true;
    const wait = this.lastDraw + this.minInterval - this.now();
    if (wait <= 0) {
      this.draw();
      return;
    }
    if (!this.cancelTimer) {
      this.cancelTimer = this.setTimer(() => {
        this.cancelTimer = undefined;
        if (this.dirty && !this.finished) this.draw();
      }, wait);
    }
  }

  private draw(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const up = this.drawn > 0 ? `${ESC}${this.drawn}A` : '';
    this.out.write(up + this.renderBars());
    this.lastDraw = this.now();
    this.dirty = false;
  }

  /**
   * The bar lines; the cursor is at the start of the first one and ends below the last. Sets `drawn`.
   * Finished bars are drawn first, one last time, and then left behind as plain lines; running bars follow. So
   * the part that is redrawn is only as tall as the number of blobs in flight, however many layers there are.
   */
  private renderBars(): string {
    const bars = [...this.bars.values()];
    const finished = bars.filter((b) => b.state !== 'running');
    const running = bars.filter((b) => b.state === 'running');
    let s = '';
    for (const bar of [...finished, ...running]) s += `\r${ESC}2K${fitWidth(this.barLine(bar), this.columns)}\n`;
    for (const bar of finished) this.bars.delete(bar.digest);
    this.drawn = this.bars.size;
    return s;
  }

  /** Freeze the bars as they are, print a line under them, and start a new group of bars below it. */
  private permanent(line: string): void {
    if (this.dirty) this.draw();
    this.out.write(line + '\n');
    this.bars = new Map();
    this.drawn = 0;
  }

  /** One bar's text. Exported through the class for tests via the output only. */
  private barLine(bar: Bar): string {
    const head = `Copying ${bar.kind === 'config' ? 'config' : 'blob'} ${shortDigest(bar.digest)}`;
    if (bar.state === 'skipped') return `${head} skipped: already exists`;
    if (bar.state === 'done') {
      const as = bar.written && bar.written !== bar.digest ? ` as ${shortDigest(bar.written)}` : '';
      return `${head} done${as}  ${humanSize(bar.size >= 0 ? bar.size : bar.bytes)}`;
    }
    const elapsed = (this.now() - bar.startedAt) / 1000;
    const rate = elapsed >= 0.25 ? `  ${humanRate(bar.bytes / elapsed)}` : '';
    if (bar.size < 0) return `${head} ${humanSize(bar.bytes)}${rate}`;
    const pct = bar.size > 0 ? Math.min(100, Math.floor((bar.bytes * 100) / bar.size)) : 100;
    const tail = ` ${humanSize(bar.bytes)} / ${humanSize(bar.size)}${rate}  ${pct}%`;
    const width = Math.max(10, Math.min(30, this.columns - 1 - head.length - tail.length - 3));
    const filled = Math.min(width, Math.floor((pct * width) / 100));
    const arrow = filled < width && filled > 0 ? '>' : '';
    const bodyLen = arrow ? filled - 1 : filled;
    const barText = '='.repeat(Math.max(0, bodyLen)) + arrow + ' '.repeat(width - Math.max(0, bodyLen) - arrow.length);
    return `${head} [${barText}]${tail}`;
  }
}
