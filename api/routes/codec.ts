import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { requireOperator, type OperatorToken } from '../operator-auth.ts';
import type { Operation } from '../operation.ts';
import { badRequest, errorResponse } from '../schemas.ts';

/*
 * Temporal's remote codec protocol (the Web UI's "codec server", `temporal --codec-endpoint`):
 * POST <endpoint>/decode and <endpoint>/encode with a Payloads message as proto3 JSON —
 * `{"payloads":[{"metadata":{"encoding":"<base64>"},"data":"<base64>"}]}` — and the same
 * shape back. The UI names the namespace in the X-Namespace header.
 */

const base64 = z
  .string()
  .max(8 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const jsonPayload = z.object({
  metadata: z.record(z.string(), base64).nullish(),
  data: base64.nullish(),
});
// proto3 JSON leaves out empty repeated fields: the CLI sends `{}` for no payloads.
export const codecPayloads = z.object({ payloads: z.array(jsonPayload).max(10_000).default([]) });
type JsonPayload = z.infer<typeof jsonPayload>;

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
  ),
  data: Buffer.from(data ?? '', 'base64'),
});

const toJson = ({ metadata, data }: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(metadata ?? {}).map(([key, value]) => [
      key,
      Buffer.from(value).toString('base64'),
    ]),
  ),
  data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
});

export interface CodecRoutesOptions {
  /** The service's payload codec; null when PAYLOAD_ENCRYPTION_KEYS is unset (answers 503). */
  codec: PayloadCodec | null;
  namespace: string;
  operatorTokens: readonly OperatorToken[];
  /** Browser origins (the Temporal Web UI) that may call from a page, with credentials. */
  allowedOrigins: readonly string[];
  /** Development only: a browser call from an allowed origin needs no operator token. */
  allowAnonymousFromAllowedOrigins: boolean;
}

/** Large histories decode many payloads per call; Temporal caps one payload at 2 MiB. */
const CODEC_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** Browsers may cache a preflight this long (seconds); Chromium caps it at 7200. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * POST /codec/decode and /codec/encode for engineers: an operator token (support or admin),
 * CORS for the configured Web UI origins only. Every decode is logged with who asked (never
 * what was decoded).
 */
export const registerCodecRoutes: FastifyPluginAsync<CodecRoutesOptions> = async (app, options) => {
  const allowed = new Set(options.allowedOrigins.map((origin) => new URL(origin).origin));
  const requireSupport = requireOperator(options.operatorTokens, 'support');

  const allowCors = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const origin = request.headers.origin;
    reply.header('vary', 'Origin');
    if (!origin || !allowed.has(origin)) return false;
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-allow-credentials', 'true');
    return true;
  };

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const fromAllowedOrigin = allowCors(request, reply);
    if (
      options.allowAnonymousFromAllowedOrigins &&
      fromAllowedOrigin &&
      request.headers.authorization === undefined
    )
      return;
    await requireSupport.call(app, request, reply);
    if (reply.sent) return reply;
  };

  for (const action of ['decode', 'encode'] as const) {
    const url = `/codec/${action}`;
    // The preflight a browser sends before the UI's POST (it carries X-Namespace and JSON).
    app.options(url, async (request, reply) => {
      if (!allowCors(request, reply)) return reply.code(403).send({ error: 'origin not allowed' });
      return reply
        .code(204)
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'authorization, content-type, x-namespace')
        .header('access-control-max-age', String(PREFLIGHT_MAX_AGE_SECONDS))
        .send();
    });
    app.post(
      url,
      { bodyLimit: CODEC_BODY_LIMIT_BYTES, preHandler: authenticate },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        const namespace = request.headers['x-namespace'];
        if (typeof namespace === 'string' && namespace !== '' && namespace !== options.namespace) {
          return reply
            .code(400)
            .send({ error: `X-Namespace: this codec serves namespace ${options.namespace}` });
        }
        if (!options.codec) {
          return reply
            .code(503)
            .send({ error: 'payload encryption is not configured (PAYLOAD_ENCRYPTION_KEYS)' });
        }
        const parsed = codecPayloads.safeParse(request.body);
        if (!parsed.success) return badRequest(reply, parsed.error);
        const payloads = parsed.data.payloads.map(fromJson);
        let result: Payload[];
        try {
          result =
            action === 'decode'
              ? await options.codec.decode(payloads)
              : await options.codec.encode(payloads);
        } catch (error) {
          // The protocol answers a codec failure with 400; the message names a key id at most.
          return reply.code(400).send({ error: (error as Error).message });
        }
        request.log.info(
          {
            operator: request.operator?.name ?? 'anonymous (development)',
            payloads: result.length,
          },
          `codec ${action}`,
        );
        return reply.send({ payloads: result.map(toJson) });
      },
    );
  }
};

const codecOperation = (action: 'decode' | 'encode'): Operation => ({
  method: 'post',
  path: `/codec/${action}`,
  summary:
    action === 'decode'
      ? 'Decrypt workflow payloads for the Temporal Web UI / CLI (remote codec protocol)'
      : 'Encrypt payloads with the current key (remote codec protocol)',
  security: 'operator',
  body: codecPayloads,
  responses: {
    200: [`the payloads, ${action}d`, codecPayloads],
    400: ['malformed payloads, a foreign namespace or a key that is not configured', errorResponse],
    401: ['no valid operator token', errorResponse],
    503: ['PAYLOAD_ENCRYPTION_KEYS is not configured', errorResponse],
  },
});

/** The codec routes, for the OpenAPI document. */
export const CODEC_OPERATIONS: Operation[] = [codecOperation('decode'), codecOperation('encode')];
