import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Eta } from 'eta';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/** A person who may sign in to the local provider, with the console roles it asserts. */
export interface DemoUser {
  email: string;
  password: string;
  roles: string[];
}

export interface LocalOidcProvider {
  /** The issuer (`http://127.0.0.1:<port>`): CONSOLE_OIDC_ISSUER. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  users: readonly DemoUser[];
  stop(): Promise<void>;
}

const VIEWS = new URL('./oidc-views/', import.meta.url);
const eta = new Eta({ views: VIEWS.pathname, cache: true });

/** Reads a small urlencoded form body. */
async function formOf(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const samePassword = (given: string, expected: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/**
 * A real OpenID Connect provider (the `oidc-provider` library) on 127.0.0.1 for `npm start`
 * and the tests: one confidential client (the console; authorization code with PKCE), the
 * given demo users with a password each, and their roles in the `roles` claim. Its sign-in page
 * is a template of its own; consent is implied (the console is a first-party client). Keys and
 * cookie secrets are fresh per start, so a restart signs everyone out of the provider — the
 * console's own sessions outlive it.
 */
export async function startLocalOidcProvider(options: {
  /** The console's callback, `<api>/console/auth/callback` (each is allowed). */
  redirectUris: string[];
  users: DemoUser[];
  port?: number;
  clientId?: string;
  clientSecret?: string;
}): Promise<LocalOidcProvider> {
  const clientId = options.clientId ?? 'support-console';
  const clientSecret = options.clientSecret ?? randomBytes(24).toString('hex');
  const clientOrigins = [...new Set(options.redirectUris.map((uri) => new URL(uri).origin))].join(
    ' ',
  );
  const byEmail = new Map(options.users.map((user) => [user.email, user]));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    format: 'jwk',
  });
  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: 'local', use: 'sig', alg: 'RS256' }] as never },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'roles'] },
    // The console reads the roles from the ID token; a real issuer may put them in either.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Seconds. Short-lived artifacts; the provider's own session lasts a working day like the
    // console's.
    ttl: {
      AuthorizationCode: 60,
      AccessToken: 600,
      IdToken: 600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = byEmail.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          email: user.email,
          email_verified: true,
          name: user.email,
          roles: user.roles,
        }),
      };
    },
    // A first-party client: every requested scope and claim is granted without a consent page.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const grantId =
        ctx.oidc.result?.['consent']?.grantId ??
        ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client!.clientId,
        accountId: ctx.oidc.session!.accountId!,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);
  const providerCallback = provider.callback();

  /** The sign-in page and its submission; everything else is the provider's. */
  async function interaction(request: IncomingMessage, response: ServerResponse) {
    const details = await provider.interactionDetails(request, response);
    const render = (status: number, error: string | null, email = '') => {
      response.writeHead(status, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          // The sign-in form's answer redirects to the console: Chromium holds form-action to
          // every hop of that redirect.
          `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${clientOrigins}; frame-ancestors 'none'`,
      });
      response.end(
        eta.render('./sign-in', {
          action: `/interaction/${details.uid}`,
          error,
          email,
          users: options.users.map((u) => ({ email: u.email, roles: u.roles.join(', ') })),
        }),
      );
    };
    if (request.method === 'GET') return render(200, null);
    const form = await formOf(request);
    const email = (form.get('email') ?? '').trim().toLowerCase();
    const user = byEmail.get(email);
    if (!user || !samePassword(form.get('password') ?? '', user.password))
      return render(401, 'Unknown email or wrong password.', email);
    await provider.interactionFinished(
      request,
      response,
      { login: { accountId: user.email } },
      { mergeWithLastSubmission: false },
    );
  }

  server.on('request', (request, response) => {
    const path = (request.url ?? '').split('?', 1)[0] ?? '';
    if (/^\/interaction\/[\w-]+$/.test(path)) {
      interaction(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(400, { 'content-type': 'text/plain' });
        response.end(`sign-in failed: ${(error as Error).message}`);
      });
      return;
    }
    void providerCallback(request, response);
  });

  return {
    issuer,
    clientId,
    clientSecret,
    users: options.users,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
