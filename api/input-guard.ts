import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unstorableTextReason as unstorableText } from '../db/storable.ts';

/** The first string inside `value` that is not storable text, with its path. */
function findUnstorable(value: unknown, path: string): string | null {
  if (typeof value === 'string') {
    const problem = unstorableText(value);
    return problem ? `${path} ${problem}` : null;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findUnstorable(item, `${path}[${index}]`);
      if (found) return found;
    }
    return null;
  }
  // Parsed JSON, params and query only: buffers and streams belong to the routes that read them.
  if (value !== null && typeof value === 'object' && isRecord(value)) {
    for (const [key, inner] of Object.entries(value)) {
      const keyProblem = unstorableText(key);
      if (keyProblem) return `${path} has a key that ${keyProblem}`;
      const found = findUnstorable(inner, `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/** A record of fields (parsed JSON, Fastify's params and query objects), not bytes or a stream. */
function isRecord(value: object): boolean {
  return (
    !ArrayBuffer.isView(value) &&
    !(value instanceof ArrayBuffer) &&
    typeof (value as { pipe?: unknown }).pipe !== 'function'
  );
}

/**
 * A query string parameter whose percent-encoding is not UTF-8 (`?q=%FF`): the parser leaves
 * such values encoded instead of refusing them.
 */
function undecodableQueryParameter(url: string): string | null {
  const start = url.indexOf('?');
  if (start === -1) return null;
  for (const pair of url.slice(start + 1).split('&')) {
    const [rawKey = '', rawValue = ''] = pair.split('=', 2);
    try {
      decodeURIComponent(rawKey.replaceAll('+', ' '));
    } catch {
      return 'query has a parameter name that is not valid UTF-8';
    }
    try {
      decodeURIComponent(rawValue.replaceAll('+', ' '));
    } catch {
      let name = rawKey;
      try {
        name = decodeURIComponent(rawKey);
      } catch {
        // Named as sent.
      }
      return `query.${name} is not valid UTF-8`;
    }
  }
  return null;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Every api input is text PostgreSQL can store, or the request is refused with a 400 naming
 * the field: JSON bodies must be UTF-8 (Fastify's own parser would quietly replace invalid
 * bytes), and no body field, path parameter or query parameter may hold a NUL or invalid
 * UTF-8. Routes that take raw bodies (the signed webhooks) parse and judge them themselves.
 */
export function installInputTextGuard(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      const error = new Error('body is not valid UTF-8') as Error & { statusCode: number };
      error.statusCode = 400;
      done(error, undefined);
      return;
    }
    void parseJson(request, text, done);
  });

  const refuse = (reply: FastifyReply, problem: string) => reply.code(400).send({ error: problem });
  app.addHook('preValidation', async (request: FastifyRequest, reply) => {
    const problem =
      undecodableQueryParameter(request.url) ??
      findUnstorable(request.params, 'params') ??
      findUnstorable(request.query, 'query') ??
      findUnstorable(request.body, 'body');
    if (problem) return refuse(reply, problem);
  });
}
