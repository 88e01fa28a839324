import { createHash, randomBytes } from 'node:crypto';

/** How long a claim link works: the last claim reminder goes out at 7 days. */
export const CLAIM_TOKEN_TTL_DAYS = 30;

/** A fresh claim token (256 random bits, URL-safe) and the hash that is stored. */
export function newClaimToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashClaimToken(token) };
}

export function hashClaimToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
