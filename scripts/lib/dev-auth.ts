import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

/** The local stand-in for Auth0: a key pair generated once per checkout into .data/. */
const PRIVATE_FILE = path.resolve('.data/dev-jwt-private.json');
export const DEV_JWKS_FILE = path.resolve('.data/dev-jwks.json');

/** Creates the local key pair and its public JWKS file when missing; returns the JWKS path. */
export async function ensureDevJwks(): Promise<string> {
  if (!existsSync(PRIVATE_FILE) || !existsSync(DEV_JWKS_FILE)) {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `dev-${Date.now()}`;
    writeFileSync(
      PRIVATE_FILE,
      JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'RS256' }),
      { mode: 0o600 },
    );
    writeFileSync(
      DEV_JWKS_FILE,
      JSON.stringify({
        keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }],
      }),
    );
  }
  return DEV_JWKS_FILE;
}

/** A storefront token signed with the local key, as the storefront would send it. */
export async function mintDevToken(
  claims: { sub: string; email: string },
  issuer: string,
  audience: string,
): Promise<string> {
  const jwk = JSON.parse(readFileSync(PRIVATE_FILE, 'utf8')) as JWK & { kid: string };
  return new SignJWT({ email: claims.email, email_verified: true })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
    .setSubject(claims.sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('12h')
    .sign(await importJWK(jwk, 'RS256'));
}
