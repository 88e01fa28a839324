import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Supabase Storage (the SaaS API cannot run here), mounted under `/storage/v1`
 * like a project, implementing only what `@supabase/storage-js` calls for our driver:
 *
 * - `HEAD /object/<bucket>/<path>`: exists (200 with the object's headers, or a not-found);
 * - `POST /object/<bucket>/<path>`: upload; raw body, `content-type`, `x-upsert: true` to
 *   overwrite (otherwise a duplicate is refused), answers `{ Id, Key }`;
 * - `POST /object/sign/<bucket>/<path>` with `{ expiresIn }`: answers `{ signedURL }`, a path
 *   relative to /storage/v1 carrying a `token` (an HS256 JWT of `{ url, iat, exp }`);
 * - `GET /object/sign/<bucket>/<path>?token=…&download=…`: the bytes, without API keys, until
 *   the token's `exp`, with `Content-Disposition: attachment` naming `download`.
 *
 * Like supabase/storage (src/internal/errors), errors are `{ statusCode, code, error, message }`
 * with the logical status as a string in `statusCode` and HTTP 400 on the wire for every
 * non-500 error — a missing object is HTTP 400 with statusCode "404" — while a wrong or missing
 * key is refused with 401 before Storage, as the project's API gateway does.
 * test/storage/supabase-contract.test.ts pins both this stand-in and our driver to that contract.
 */
export interface SupabaseStorageStandIn {
  /** The project URL; the Storage API is `${url}/storage/v1`. */
  url: string;
  /** Stored objects by `<bucket>/<path>`. */
  objects: Map<string, StoredObject>;
  /** Every request as received, for asserting what our driver sends. */
  requests: {
    method: string;
    /** Path and query as sent, starting with /storage/v1. */
    path: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    bodySize: number;
  }[];
  close(): Promise<void>;
}

export interface StoredObject {
  body: Buffer;
  contentType: string;
  cacheControl: string;
  etag: string;
  lastModified: Date;
}

interface StorageErrorBody {
  statusCode: string;
  code: string;
  error: string;
  message: string;
}

const notFound = (what: 'Bucket' | 'Object'): StorageErrorBody =>
  what === 'Bucket'
    ? {
        statusCode: '404',
        code: 'NoSuchBucket',
        error: 'Bucket not found',
        message: 'Bucket not found',
      }
    : { statusCode: '404', code: 'NoSuchKey', error: 'not_found', message: 'Object not found' };

const invalidJwt = (message: string): StorageErrorBody => ({
  statusCode: '400',
  code: 'InvalidJWT',
  error: 'InvalidJWT',
  message,
});

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export async function startSupabaseStorageStandIn({
  serviceKey,
  buckets,
}: {
  serviceKey: string;
  buckets: readonly string[];
}): Promise<SupabaseStorageStandIn> {
  const objects = new Map<string, StoredObject>();
  const requests: SupabaseStorageStandIn['requests'] = [];
  // Storage signs URLs with the project's JWT secret; the stand-in's is per run.
  const jwtSecret = randomBytes(32);

  const sign = (payload: object): string => {
    const unsigned = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(
      JSON.stringify(payload),
    )}`;
    return `${unsigned}.${createHmac('sha256', jwtSecret).update(unsigned).digest('base64url')}`;
  };
  /** The token's claims, or the message Storage (jsonwebtoken) gives for a bad token. */
  const verify = (token: string): { url: string; exp: number } | string => {
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature) return 'jwt malformed';
    const expected = createHmac('sha256', jwtSecret).update(`${header}.${payload}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return 'invalid signature';
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      url: string;
      exp: number;
    };
    // jsonwebtoken's rule: expired once the current whole second reaches `exp`.
    return Math.floor(Date.now() / 1000) >= claims.exp ? 'jwt expired' : claims;
  };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const method = request.method ?? '';
      requests.push({
        method,
        path: request.url ?? '',
        headers: request.headers,
        body,
        bodySize: body.length,
      });
      const reply = (status: number, json: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        response.end(JSON.stringify(json));
      };
      // Storage sends every handled error as HTTP 400 (500 stays 500), the real status in
      // the body: supabase/storage `StorageBackendError.userStatusCode`.
      const storageError = (error: StorageErrorBody) =>
        reply(error.statusCode === '500' ? 500 : 400, error);

      const url = new URL(request.url ?? '/', 'http://stand-in');
      const route = /^\/storage\/v1\/object\/(sign\/)?([^/]+)\/(.+)$/.exec(url.pathname);
      const routeNotFound = () =>
        reply(404, {
          statusCode: '404',
          error: 'Not Found',
          message: `Route ${method}:${url.pathname} not found`,
        });
      if (!route) return routeNotFound();
      const signing = route[1] !== undefined;
      let bucket: string, objectPath: string;
      try {
        bucket = decodeURIComponent(route[2]!);
        objectPath = decodeURIComponent(route[3]!);
      } catch {
        return reply(400, { statusCode: '400', error: 'Bad Request', message: 'malformed path' });
      }
      const objectKey = `${bucket}/${objectPath}`;

      // A signed URL is public: the token is the credential, no API key.
      if (signing && method === 'GET') {
        const token = url.searchParams.get('token');
        if (token === null)
          return reply(400, {
            statusCode: '400',
            error: 'Bad Request',
            message: "querystring must have required property 'token'",
          });
        const claims = verify(token);
        if (typeof claims === 'string') return storageError(invalidJwt(claims));
        if (claims.url !== objectKey)
          return storageError({
            statusCode: '400',
            code: 'InvalidSignature',
            error: 'InvalidSignature',
            message: 'The url do not match the signature',
          });
        const object = objects.get(objectKey);
        if (!object) return storageError(notFound('Object'));
        const headers: Record<string, string | number> = {
          'content-type': object.contentType,
          'content-length': object.body.length,
          etag: object.etag,
          'last-modified': object.lastModified.toUTCString(),
          expires: new Date(claims.exp * 1000).toUTCString(),
        };
        const download = url.searchParams.get('download');
        if (download !== null) {
          const name = encodeURIComponent(download);
          headers['content-disposition'] =
            download === ''
              ? 'attachment;'
              : `attachment; filename=${name}; filename*=UTF-8''${name};`;
        }
        response.writeHead(200, headers);
        return response.end(object.body);
      }

      // The project's API gateway refuses a wrong or missing key before Storage sees it.
      if (
        request.headers.apikey !== serviceKey ||
        request.headers.authorization !== `Bearer ${serviceKey}`
      )
        return reply(401, { message: 'Invalid API key' });
      if (!buckets.includes(bucket)) return storageError(notFound('Bucket'));

      if (signing && method === 'POST') {
        let expiresIn: unknown;
        try {
          ({ expiresIn } = JSON.parse(body.toString('utf8')) as { expiresIn?: unknown });
        } catch {
          return reply(400, { statusCode: '400', error: 'Bad Request', message: 'invalid JSON' });
        }
        if (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1)
          return reply(400, {
            statusCode: '400',
            error: 'Bad Request',
            message: 'body/expiresIn must be integer >= 1',
          });
        if (!objects.has(objectKey)) return storageError(notFound('Object'));
        const iat = Math.floor(Date.now() / 1000);
        const token = sign({ url: objectKey, iat, exp: iat + expiresIn });
        return reply(200, { signedURL: `/object/sign/${objectKey}?token=${token}` });
      }

      if (method === 'HEAD') {
        const object = objects.get(objectKey);
        if (!object) return storageError(notFound('Object'));
        response.writeHead(200, {
          'content-type': object.contentType,
          'content-length': object.body.length,
          'cache-control': object.cacheControl,
          etag: object.etag,
          'last-modified': object.lastModified.toUTCString(),
        });
        return response.end();
      }

      if (method === 'POST') {
        if (objects.has(objectKey) && request.headers['x-upsert'] !== 'true')
          return storageError({
            statusCode: '409',
            code: 'KeyAlreadyExists',
            error: 'Duplicate',
            message: 'The resource already exists',
          });
        const id = randomUUID();
        objects.set(objectKey, {
          body,
          contentType: request.headers['content-type'] ?? 'application/octet-stream',
          cacheControl: request.headers['cache-control'] ?? 'no-cache',
          etag: `"${createHash('md5').update(body).digest('hex')}"`,
          lastModified: new Date(),
        });
        return reply(200, { Id: id, Key: objectKey });
      }

      return routeNotFound();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    objects,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
