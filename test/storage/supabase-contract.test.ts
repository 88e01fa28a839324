import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSupabaseStorage, SupabaseStorageError } from '../../drivers/storage/supabase.ts';
import {
  startSupabaseStorageStandIn,
  type SupabaseStorageStandIn,
} from '../helpers/supabase-storage-stand-in.ts';

const serviceKey = 'service-role-contract-key';
const bucket = 'products';

let standIn: SupabaseStorageStandIn;
let storage: ReturnType<typeof createSupabaseStorage>;
beforeAll(async () => {
  standIn = await startSupabaseStorageStandIn({ serviceKey, buckets: [bucket] });
  storage = createSupabaseStorage({ url: standIn.url, serviceKey, bucket });
});
afterAll(async () => {
  await standIn?.close();
});

const bytes = (text: string) => new TextEncoder().encode(text);

/** The requests our driver made while `action` ran. */
async function requestsDuring(action: () => Promise<unknown>) {
  const before = standIn.requests.length;
  await action();
  return standIn.requests.slice(before);
}

async function failure(action: Promise<unknown>): Promise<SupabaseStorageError> {
  const error = await action.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SupabaseStorageError);
  return error as SupabaseStorageError;
}

describe('the Supabase storage driver against the documented Storage API', () => {
  it('uploads with POST /object/<bucket>/<key>, the service key, x-upsert: true and the file type', async () => {
    const pdf = bytes('%PDF-1.7 contract');
    const [request, ...others] = await requestsDuring(() =>
      storage.put('ebooks/rust/2/book.pdf', pdf),
    );
    expect(others).toEqual([]);
    expect(request).toMatchObject({
      method: 'POST',
      path: `/storage/v1/object/${bucket}/ebooks/rust/2/book.pdf`,
      bodySize: pdf.length,
    });
    expect(request!.headers).toMatchObject({
      apikey: serviceKey,
      authorization: `Bearer ${serviceKey}`,
      'x-upsert': 'true',
      'content-type': 'application/pdf',
    });
    expect(new Uint8Array(request!.body)).toEqual(pdf);

    const [epub] = await requestsDuring(() =>
      storage.put('ebooks/rust/2/book.epub', bytes('PK epub')),
    );
    expect(epub!.headers['content-type']).toBe('application/epub+zip');
  });

  it('checks existence with HEAD /object/<bucket>/<key> and the service key', async () => {
    await storage.put('ebooks/rust/2/book.pdf', bytes('%PDF-1.7'));
    const [request, ...others] = await requestsDuring(() =>
      storage.exists('ebooks/rust/2/book.pdf'),
    );
    expect(others).toEqual([]);
    expect(request).toMatchObject({
      method: 'HEAD',
      path: `/storage/v1/object/${bucket}/ebooks/rust/2/book.pdf`,
      bodySize: 0,
    });
    expect(request!.headers).toMatchObject({
      apikey: serviceKey,
      authorization: `Bearer ${serviceKey}`,
    });
  });

  it('signs with POST /object/sign/<bucket>/<key> and { expiresIn } in seconds', async () => {
    await storage.put('ebooks/rust/2/book.pdf', bytes('%PDF-1.7'));
    const [request, ...others] = await requestsDuring(() =>
      storage.signedUrl('ebooks/rust/2/book.pdf', {
        expiresInSeconds: 900,
        downloadName: 'rust-2.pdf',
      }),
    );
    expect(others).toEqual([]);
    expect(request).toMatchObject({
      method: 'POST',
      path: `/storage/v1/object/sign/${bucket}/ebooks/rust/2/book.pdf`,
    });
    expect(request!.headers).toMatchObject({
      apikey: serviceKey,
      authorization: `Bearer ${serviceKey}`,
      'content-type': 'application/json',
    });
    expect(JSON.parse(request!.body.toString('utf8'))).toEqual({ expiresIn: 900 });
  });

  it('reports an uploaded file as existing and an unknown key as missing', async () => {
    await storage.put('ebooks/go/1/book.pdf', bytes('go'));
    expect(await storage.exists('ebooks/go/1/book.pdf')).toBe(true);
    expect(await storage.exists('ebooks/go/1/missing.pdf')).toBe(false);
  });

  it('serves the uploaded bytes at the signed URL, as an attachment named downloadName', async () => {
    const pdf = bytes('%PDF-1.7 signed download');
    await storage.put('ebooks/zig/3/book.pdf', pdf);
    const url = await storage.signedUrl('ebooks/zig/3/book.pdf', {
      expiresInSeconds: 60,
      downloadName: 'zig-3.pdf',
    });

    expect(url.startsWith(`${standIn.url}/storage/v1/object/sign/${bucket}/`)).toBe(true);
    // A buyer's browser follows the link: no API key, only the URL.
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    expect(download.headers.get('content-disposition')).toMatch(
      /^attachment; filename=zig-3\.pdf;/,
    );
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(pdf);
  });

  it('replaces the file when the same key is put again (a retried upload)', async () => {
    await storage.put('ebooks/ocaml/1/book.pdf', bytes('first'));
    await storage.put('ebooks/ocaml/1/book.pdf', bytes('second'));
    const url = await storage.signedUrl('ebooks/ocaml/1/book.pdf', {
      expiresInSeconds: 60,
      downloadName: 'ocaml-1.pdf',
    });
    expect(await (await fetch(url)).text()).toBe('second');
  });

  it('refuses a signed URL once it has expired', async () => {
    await storage.put('ebooks/elm/1/book.pdf', bytes('elm'));
    const url = await storage.signedUrl('ebooks/elm/1/book.pdf', {
      expiresInSeconds: 1,
      downloadName: 'elm-1.pdf',
    });
    // Storage's tokens carry whole seconds: 1.5 s is past `exp` wherever in a second it began.
    await sleep(1500);
    const refused = await fetch(url);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'InvalidJWT', message: 'jwt expired' });
  });

  it('throws an error naming HTTP 401 for every operation when the service key is wrong', async () => {
    const wrongKey = createSupabaseStorage({ url: standIn.url, serviceKey: 'not-the-key', bucket });
    const signing = { expiresInSeconds: 60, downloadName: 'rust-2.pdf' };
    for (const attempt of [
      () => wrongKey.put('ebooks/rust/2/book.pdf', bytes('x')),
      () => wrongKey.exists('ebooks/rust/2/book.pdf'),
      () => wrongKey.signedUrl('ebooks/rust/2/book.pdf', signing),
    ]) {
      const error = await failure(attempt());
      expect(error.status).toBe(401);
      expect(error.message).toContain('HTTP 401');
    }
  });

  it('throws with the status and Storage’s message when signing a file that is not there', async () => {
    const error = await failure(
      storage.signedUrl('ebooks/none/1/book.pdf', { expiresInSeconds: 60, downloadName: 'x.pdf' }),
    );
    expect(error.status).toBe(400);
    expect(error.message).toContain('statusCode 404');
    expect(error.message).toContain('Object not found');
  });

  it('throws when Storage cannot be reached', async () => {
    const unreachable = createSupabaseStorage({ url: 'http://127.0.0.1:1', serviceKey, bucket });
    const error = await failure(unreachable.put('ebooks/rust/2/book.pdf', bytes('x')));
    expect(error.status).toBeNull();
    await failure(unreachable.exists('ebooks/rust/2/book.pdf'));
  });
});

describe('the stand-in keeps Supabase Storage’s documented contract', () => {
  const api = `/storage/v1/object`;
  const keyHeaders = { apikey: serviceKey, authorization: `Bearer ${serviceKey}` };
  const call = (method: string, path: string, init: RequestInit = {}) =>
    fetch(`${standIn.url}${api}${path}`, {
      method,
      ...init,
      headers: { ...keyHeaders, ...(init.headers as Record<string, string> | undefined) },
    });

  it('answers a missing object with HTTP 400 and statusCode "404" in the error body', async () => {
    const signing = await call('POST', `/sign/${bucket}/nothing/here.pdf`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expiresIn: 60 }),
    });
    expect(signing.status).toBe(400);
    expect(await signing.json()).toEqual({
      statusCode: '404',
      code: 'NoSuchKey',
      error: 'not_found',
      message: 'Object not found',
    });
    expect((await call('HEAD', `/${bucket}/nothing/here.pdf`)).status).toBe(400);
    const noBucket = await call('HEAD', `/no-such-bucket/here.pdf`);
    expect(noBucket.status).toBe(400);
  });

  it('refuses API calls without the service key as apikey and Bearer token', async () => {
    const anonymous = await fetch(`${standIn.url}${api}/${bucket}/a.pdf`, {
      method: 'POST',
      body: 'x',
    });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({ message: expect.any(String) as string });
    const bearerOnly = await fetch(`${standIn.url}${api}/${bucket}/a.pdf`, {
      method: 'POST',
      headers: { authorization: `Bearer ${serviceKey}` },
      body: 'x',
    });
    expect(bearerOnly.status).toBe(401);
  });

  it('refuses to overwrite an object unless x-upsert is true, and answers { Id, Key }', async () => {
    const first = await call('POST', `/${bucket}/contract/dup.pdf`, {
      headers: { 'content-type': 'application/pdf' },
      body: 'one',
    });
    expect(await first.json()).toEqual({
      Id: expect.any(String) as string,
      Key: `${bucket}/contract/dup.pdf`,
    });
    const duplicate = await call('POST', `/${bucket}/contract/dup.pdf`, { body: 'two' });
    expect(duplicate.status).toBe(400);
    expect(await duplicate.json()).toMatchObject({ statusCode: '409', error: 'Duplicate' });
    const upsert = await call('POST', `/${bucket}/contract/dup.pdf`, {
      headers: { 'x-upsert': 'true' },
      body: 'two',
    });
    expect(upsert.status).toBe(200);
    expect(standIn.objects.get(`${bucket}/contract/dup.pdf`)?.body.toString()).toBe('two');
  });

  it('answers { signedURL } relative to /storage/v1 and serves it only with an intact token for that object', async () => {
    await call('POST', `/${bucket}/contract/signed.pdf`, { body: 'signed' });
    await call('POST', `/${bucket}/contract/other.pdf`, { body: 'other' });
    const signing = await call('POST', `/sign/${bucket}/contract/signed.pdf`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expiresIn: 60 }),
    });
    const { signedURL } = (await signing.json()) as { signedURL: string };
    expect(signedURL).toMatch(new RegExp(`^/object/sign/${bucket}/contract/signed\\.pdf\\?token=`));

    const signed = `${standIn.url}/storage/v1${signedURL}`;
    expect(await (await fetch(signed)).text()).toBe('signed');
    expect((await fetch(`${signed}x`)).status).toBe(400);
    const otherObject = await fetch(signed.replace('signed.pdf?', 'other.pdf?'));
    expect(otherObject.status).toBe(400);
    expect(await otherObject.json()).toMatchObject({ error: 'InvalidSignature' });
    const noToken = await fetch(`${standIn.url}${api}/sign/${bucket}/contract/signed.pdf`);
    expect(noToken.status).toBe(400);
  });

  it('rejects a signing request without a positive whole expiresIn', async () => {
    const zero = await call('POST', `/sign/${bucket}/contract/signed.pdf`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expiresIn: 0 }),
    });
    expect(zero.status).toBe(400);
  });
});
