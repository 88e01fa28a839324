import { exportJWK, generateKeyPair, SignJWT, type JSONWebKeySet } from 'jose';

/** A key pair of the test's own and a way to mint storefront tokens with it. */
export async function createTestIssuer(
  issuer = 'https://auth.test/',
  audience = 'fulfillment-api',
) {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwks: JSONWebKeySet = {
    keys: [{ ...(await exportJWK(publicKey)), kid: 'test', alg: 'RS256', use: 'sig' }],
  };
  return {
    jwks,
    issuer,
    audience,
    token(
      claims: { sub: string; email?: string; email_verified?: boolean },
      options: { issuer?: string; expiresIn?: string } = {},
    ) {
      return new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'test' })
        .setIssuer(options.issuer ?? issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '10m')
        .sign(privateKey);
    },
  };
}
