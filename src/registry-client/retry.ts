/** Backoff, Retry-After and abortable sleeps for the registry client. */
import { WharfError } from '../errors.js';

/** The longest a Retry-After header may make us wait; a registry asking for more gets this much. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Exponential backoff with jitter: attempt 0 waits about `baseMs`, each further attempt doubles it, up to
 * `maxMs`. The jitter ("equal jitter") keeps half of the delay and randomises the other half, so that several
 * clients failing together do not come back together.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs = 30_000): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

/** Retry-After as delay-seconds or an HTTP date, in milliseconds, capped; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now(), capMs = MAX_RETRY_AFTER_MS): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const text = v.trim();
  if (/^\d+$/.test(text)) return Math.min(capMs, Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.min(capMs, Math.max(0, date - now));
}

/** Sleep that ends early (rejecting with ABORTED) when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortedError(signal?: AbortSignal): WharfError {
  return new WharfError('ABORTED', 'operation aborted', { cause: signal?.reason });
}
