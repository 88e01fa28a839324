import { createHash } from 'node:crypto';
import apiReference from '@scalar/fastify-api-reference';
import type { FastifyPluginAsync } from 'fastify';

/** Where the document and its readable reference live. */
export const OPENAPI_JSON_PATH = '/docs/openapi.json';
export const REFERENCE_PATH = '/docs/reference';

/** `'sha256-…'` of every inline script of a page, for its Content-Security-Policy. */
function inlineScriptHashes(html: string): string[] {
  return [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (match) => `'sha256-${createHash('sha256').update(match[1]!).digest('base64')}'`,
  );
}

/**
 * The OpenAPI document: JSON at `GET /docs/openapi.json` (stable) and at `GET /docs` for any
 * client but a browser; a browser asking `/docs` for HTML is sent to the readable reference
 * (Scalar, served from this api — no CDN, no fonts from elsewhere, no telemetry) under a CSP
 * that admits its own script file and the hashes of its inline start-up script only.
 */
export const registerDocs: FastifyPluginAsync<{ document: Record<string, unknown> }> = async (
  app,
  { document },
) => {
  app.get('/docs', async (request, reply) => {
    const accept = request.headers.accept ?? '';
    if (/\btext\/html\b/.test(accept) && !/\bapplication\/json\b/.test(accept))
      return reply.redirect(`${REFERENCE_PATH}/`, 303);
    return document;
  });
  app.get(OPENAPI_JSON_PATH, async () => document);

  await app.register(async (reference) => {
    reference.addHook('onSend', async (_request, reply, payload) => {
      if (!String(reply.getHeader('content-type') ?? '').startsWith('text/html')) return payload;
      const hashes = typeof payload === 'string' ? inlineScriptHashes(payload) : [];
      reply.header(
        'content-security-policy',
        [
          "default-src 'none'",
          `script-src 'self' ${hashes.join(' ')}`,
          // The reference injects its stylesheet at run time.
          "style-src 'self' 'unsafe-inline'",
          "img-src 'self' data:",
          "font-src 'self' data:",
          "connect-src 'self'",
          "frame-ancestors 'none'",
          "base-uri 'none'",
          "form-action 'none'",
        ].join('; '),
      );
      return payload;
    });
    await reference.register(apiReference, {
      routePrefix: REFERENCE_PATH,
      configuration: {
        url: OPENAPI_JSON_PATH,
        pageTitle: 'Fulfillment Orchestrator API',
        withDefaultFonts: false,
        telemetry: false,
        hideClientButton: true,
        // Nothing that calls out of the api: no AI agent, no MCP generator, no developer tools.
        agent: { disabled: true },
        mcp: { disabled: true },
        showDeveloperTools: 'never',
      },
    });
  });
};
