/**
 * A provider failure, classified for the retry policy and the failover: `retryable` failures
 * (5xx, timeouts, 429) are retried and count towards failing over; the rest (a rejected
 * address, a malformed message) will not succeed by retrying.
 */
export class EmailSendError extends Error {
  override name = 'EmailSendError';
  readonly driver: string;
  readonly retryable: boolean;
  readonly status: number | null;
  /** Honour the provider's Retry-After before the next attempt. */
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    options: {
      driver: string;
      retryable: boolean;
      status?: number | null;
      retryAfterMs?: number | null;
    },
  ) {
    super(message);
    this.driver = options.driver;
    this.retryable = options.retryable;
    this.status = options.status ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
