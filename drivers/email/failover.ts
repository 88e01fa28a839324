import type { EmailDriver } from './driver.ts';
import { EmailSendError } from './errors.ts';

export interface FailoverOptions {
  /** Consecutive retryable failures of the primary before the fallback takes over. */
  threshold: number;
  /** How long the fallback serves before the primary is tried again. */
  cooldownMs: number;
  now?: () => number;
  /** Called when the fallback takes over (for the log and the drill's figures). */
  onFailover?: (error: EmailSendError) => void;
}

/**
 * Sends through the primary until it keeps failing with retryable errors (5xx, timeouts)
 * past the threshold, then through the fallback for a cooldown, then tries the primary
 * again. State is per process: each worker decides for itself.
 */
export function createFailoverDriver(
  primary: EmailDriver,
  fallback: EmailDriver,
  options: FailoverOptions,
): EmailDriver {
  const now = options.now ?? Date.now;
  let consecutiveFailures = 0;
  let fallbackUntil = 0;
  return {
    name: `${primary.name}+${fallback.name}`,
    async send(email) {
      if (now() < fallbackUntil) return fallback.send(email);
      try {
        const sent = await primary.send(email);
        consecutiveFailures = 0;
        return sent;
      } catch (error) {
        if (!(error instanceof EmailSendError) || !error.retryable) throw error;
        consecutiveFailures += 1;
        if (consecutiveFailures < options.threshold) throw error;
        fallbackUntil = now() + options.cooldownMs;
        consecutiveFailures = 0;
        options.onFailover?.(error);
        return fallback.send(email);
      }
    },
  };
}
