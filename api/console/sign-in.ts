import * as oidc from 'openid-client';
import type { Operator, OperatorRole } from '../operator-auth.ts';

/** Where and how agents sign in to the console. */
export interface ConsoleOidcOptions {
  issuer: string;
  clientId: string;
  /** Unset: a public client, authenticated by PKCE alone. */
  clientSecret?: string | undefined;
  /** The claim listing the agent's roles (`roles` by default). */
  rolesClaim: string;
  /** Claim value → operator role; empty: the values `support` and `admin` themselves. */
  roleMapping: readonly { value: string; role: OperatorRole }[];
  /** `<public base URL>/console/auth/callback`, registered at the issuer. */
  redirectUri: string;
}

/** What the callback needs to check the answer: kept in the session between the two. */
export interface PendingSignIn {
  verifier: string;
  state: string;
  nonce: string;
  returnTo: string;
}

/** An agent who signed in: the operator every action is audited as. */
export interface ConsoleAgent extends Operator {
  subject: string;
  email: string | null;
}

/** A sign-in the issuer answered but the console refuses (no role, an error from the issuer). */
export class SignInRefused extends Error {
  override name = 'SignInRefused';
}

const rank: Record<OperatorRole, number> = { support: 1, admin: 2 };

/** The highest operator role the claim's values grant, or null. */
export function roleFromClaims(
  claims: Record<string, unknown>,
  claim: string,
  mapping: ConsoleOidcOptions['roleMapping'],
): OperatorRole | null {
  const raw = claims[claim];
  const values = Array.isArray(raw)
    ? raw.filter((v): v is string => typeof v === 'string')
    : typeof raw === 'string'
      ? raw.split(/\s+/)
      : [];
  const table =
    mapping.length > 0
      ? mapping
      : [
          { value: 'support', role: 'support' as const },
          { value: 'admin', role: 'admin' as const },
        ];
  let best: OperatorRole | null = null;
  for (const value of values) {
    for (const entry of table) {
      if (entry.value === value && (!best || rank[entry.role] > rank[best])) best = entry.role;
    }
  }
  return best;
}

const isLoopback = (url: URL) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/**
 * The console's OpenID Connect client: authorization code with PKCE (S256), state and nonce.
 * The issuer's metadata is discovered on first use (and again after a failure), so the api
 * starts while the issuer is down. Plain HTTP is allowed only for an issuer on this machine.
 */
export function createConsoleSignIn(options: ConsoleOidcOptions) {
  let configuration: Promise<oidc.Configuration> | null = null;
  const issuer = new URL(options.issuer);
  const discover = () => {
    configuration ??= oidc
      .discovery(
        issuer,
        options.clientId,
        undefined,
        options.clientSecret ? oidc.ClientSecretBasic(options.clientSecret) : oidc.None(),
        issuer.protocol === 'http:' && isLoopback(issuer)
          ? { execute: [oidc.allowInsecureRequests] }
          : {},
      )
      .catch((error: unknown) => {
        configuration = null;
        throw error;
      });
    return configuration;
  };

  return {
    /** The issuer's authorization URL and the checks to keep until the callback. */
    async start(returnTo: string): Promise<{ url: string; pending: PendingSignIn }> {
      const config = await discover();
      const verifier = oidc.randomPKCECodeVerifier();
      const pending = {
        verifier,
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        returnTo,
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: options.redirectUri,
        scope: 'openid email profile',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: pending.state,
        nonce: pending.nonce,
      });
      return { url: url.href, pending };
    },

    /**
     * Exchanges the callback's code (checking state, nonce and the PKCE verifier) and reads the
     * agent from the ID token and userinfo. Refuses an agent without a console role.
     */
    async finish(callbackQuery: string, pending: PendingSignIn): Promise<ConsoleAgent> {
      const config = await discover();
      // The registered redirect URI, not the request's own URL (a proxy may have rewritten its
      // host): the token request must repeat it exactly.
      const callbackUrl = new URL(options.redirectUri);
      callbackUrl.search = callbackQuery;
      const error = callbackUrl.searchParams.get('error');
      if (error)
        throw new SignInRefused(
          `the sign-in was not completed (${error}${callbackUrl.searchParams.get('error_description') ? `: ${callbackUrl.searchParams.get('error_description')}` : ''})`,
        );
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) throw new SignInRefused('the issuer returned no ID token');
      const userInfo = config.serverMetadata().userinfo_endpoint
        ? await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub)
        : {};
      const claims: Record<string, unknown> = { ...userInfo, ...idClaims };
      const role = roleFromClaims(claims, options.rolesClaim, options.roleMapping);
      const email = typeof claims['email'] === 'string' ? claims['email'] : null;
      if (!role)
        throw new SignInRefused(
          `${email ?? idClaims.sub} has no console role (claim ${options.rolesClaim})`,
        );
      return { subject: idClaims.sub, email, name: email ?? idClaims.sub, role };
    },
  };
}

export type ConsoleSignIn = ReturnType<typeof createConsoleSignIn>;
