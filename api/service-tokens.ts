import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export interface ServiceToken {
  /** Who holds it (recorded as the actor of what it does), e.g. `missions`. */
  name: string;
  token: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The holder of the token named by `Authorization: Bearer <token>`, or null. Tokens are
 * compared as SHA-256 digests in constant time, so neither content nor length leaks through
 * timing; every configured token is compared, so the position of a match does not either.
 */
export function authenticateBearer<Holder extends { token: string }>(
  request: FastifyRequest,
  tokens: readonly Holder[],
): Holder | null {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer (.+)$/.exec(header) : null;
  if (!match?.[1]) return null;
  const presented = digest(match[1]);
  let holder: Holder | null = null;
  for (const candidate of tokens) {
    if (timingSafeEqual(presented, digest(candidate.token))) holder = candidate;
  }
  return holder;
}

/** The service named by the request's bearer token, or null. */
export function authenticateService(
  request: FastifyRequest,
  tokens: readonly ServiceToken[],
): string | null {
  return authenticateBearer(request, tokens)?.name ?? null;
}
