import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Compact signed tokens: `base64url(JSON payload).base64url(HMAC-SHA256)`. The first secret
 * signs; every secret verifies, so secrets rotate without breaking links already sent.
 */
export function signToken(payload: object, secrets: readonly string[]): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${mac(body, secrets[0]!)}`;
}

/** The payload when some secret signed it, else null (tampered, foreign or malformed). */
export function verifyToken(token: string, secrets: readonly string[]): unknown {
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) return null;
  const presented = Buffer.from(signature, 'base64url');
  const valid = secrets.some((secret) => {
    const expected = Buffer.from(mac(body, secret), 'base64url');
    return expected.length === presented.length && timingSafeEqual(expected, presented);
  });
  if (!valid) return null;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function mac(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}
