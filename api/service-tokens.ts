import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export interface ServiceToken {
  /** Who holds it (recorded as the actor of what it does), e.g. `missions`. */
  name: string;
  token: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The caller named by `Authorization: Bearer <token>`, or null. Tokens are compared as
 * SHA-256 digests in constant time, so neither content nor length leaks through timing.
 */
export function authenticateService(
  request: FastifyRequest,
  tokens: readonly ServiceToken[],
): string | null {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer (.+)$/.exec(header) : null;
  if (!match?.[1]) return null;
  const presented = digest(match[1]);
  let caller: string | null = null;
  for (const { name, token } of tokens) {
    if (timingSafeEqual(presented, digest(token))) caller = name;
  }
  return caller;
}
