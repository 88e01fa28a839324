import { createHmac, timingSafeEqual } from 'node:crypto';

/** Stripe's own default: a signature older than five minutes is a replay, not a delivery. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type SignatureCheck =
  | { ok: true; secretIndex: number; timestamp: number }
  | {
      ok: false;
      reason: 'missing_header' | 'malformed_header' | 'no_matching_secret' | 'stale_timestamp';
    };

/**
 * Verifies a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=…]`) over the exact raw body,
 * against every configured secret (during a rotation both the old and the new one match),
 * comparing in constant time. Like Stripe's SDK, it rejects timestamps older than the
 * tolerance and accepts ones slightly in the future (the sender's clock may run ahead).
 */
export function verifyStripeSignature(
  rawBody: Buffer,
  header: string | undefined,
  secrets: readonly string[],
  nowSeconds: number = Date.now() / 1000,
  toleranceSeconds: number = SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing_header' };
  let timestamp: number | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.split('=', 2).map((s) => s.trim());
    if (key === 't' && value && /^\d+$/.test(value)) timestamp = Number(value);
    if (key === 'v1' && value && /^[0-9a-f]{64}$/i.test(value))
      signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === null || signatures.length === 0)
    return { ok: false, reason: 'malformed_header' };

  const signedPayload = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), rawBody]);
  for (const [secretIndex, secret] of secrets.entries()) {
    const expected = createHmac('sha256', secret).update(signedPayload).digest();
    if (signatures.some((candidate) => timingSafeEqual(candidate, expected))) {
      if (nowSeconds - timestamp > toleranceSeconds)
        return { ok: false, reason: 'stale_timestamp' };
      return { ok: true, secretIndex, timestamp };
    }
  }
  return { ok: false, reason: 'no_matching_secret' };
}
