import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { FastifyRequest } from 'fastify';

/** Where the storefront's end-user tokens are checked (Auth0 in production). */
export interface JwtAuthOptions {
  /** A JWKS URL (production), or the key set itself (local use and tests). */
  jwks: URL | JSONWebKeySet;
  issuer: string;
  audience: string;
}

export interface EndUser {
  /** The auth provider's user id (`sub`). */
  userId: string;
  email: string | null;
  emailVerified: boolean;
}

/**
 * Verifies `Authorization: Bearer <jwt>` against the JWKS with issuer and audience (jose caches
 * and refreshes a remote key set). Null for a missing, malformed, expired or foreign token.
 */
export function createJwtAuthenticator(
  options: JwtAuthOptions,
): (request: FastifyRequest) => Promise<EndUser | null> {
  const keys: JWTVerifyGetKey =
    options.jwks instanceof URL
      ? createRemoteJWKSet(options.jwks)
      : createLocalJWKSet(options.jwks);
  return async (request) => {
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    if (!match?.[1]) return null;
    try {
      const { payload } = await jwtVerify(match[1], keys, {
        issuer: options.issuer,
        audience: options.audience,
      });
      if (!payload.sub) return null;
      return {
        userId: payload.sub,
        email: typeof payload['email'] === 'string' ? payload['email'].toLowerCase() : null,
        emailVerified: payload['email_verified'] === true,
      };
    } catch {
      return null;
    }
  };
}
