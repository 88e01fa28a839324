import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long an emailed download link works (DESIGN.md: 48 h). */
export const DOWNLOAD_LINK_TTL_SECONDS = 48 * 3600;

const FORMATS = ['pdf', 'epub'] as const;
const VERSION = 1;
/** Support's temporary links: the payload names the link (a row), not the entitlement. */
const TEMPORARY_VERSION = 2;
/** 1 version + 16 entitlement uuid + 1 format + 4 expiry (unix seconds). */
const PAYLOAD_BYTES = 22;
/** A 128-bit truncated HMAC-SHA256: forging one is as hard as guessing 2^128 values. */
const MAC_BYTES = 16;

export interface DownloadLink {
  entitlementId: string;
  format: 'pdf' | 'epub';
  expiresAt: Date;
}

function mac(payload: Buffer, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest().subarray(0, MAC_BYTES);
}

/**
 * The opaque token of `GET /downloads/:token` (51 characters): entitlement, format and
 * expiry, signed with the first secret — never a storage URL.
 */
export function createDownloadToken(link: DownloadLink, secrets: readonly string[]): string {
  return signPayload(VERSION, link.entitlementId, link, secrets);
}

/**
 * The token of a temporary link support issued (same route, same length): it names the link's
 * row, whose expiry and revocation are checked on every click, besides the signed expiry.
 */
export function createTemporaryDownloadToken(
  link: { linkId: string; format: 'pdf' | 'epub'; expiresAt: Date },
  secrets: readonly string[],
): string {
  return signPayload(TEMPORARY_VERSION, link.linkId, link, secrets);
}

function signPayload(
  version: number,
  id: string,
  link: { format: 'pdf' | 'epub'; expiresAt: Date },
  secrets: readonly string[],
): string {
  const payload = Buffer.alloc(PAYLOAD_BYTES);
  payload.writeUInt8(version, 0);
  Buffer.from(id.replaceAll('-', ''), 'hex').copy(payload, 1);
  payload.writeUInt8(FORMATS.indexOf(link.format), 17);
  payload.writeUInt32BE(Math.floor(link.expiresAt.getTime() / 1000), 18);
  return Buffer.concat([payload, mac(payload, secrets[0]!)]).toString('base64url');
}

export type ReadDownloadToken = { ok: true; link: DownloadLink; expired: boolean } | { ok: false };

/** Verifies a token against every secret (they rotate) and reads it; tampered or foreign → not ok. */
export function readDownloadToken(
  token: string,
  secrets: readonly string[],
  now = Date.now(),
): ReadDownloadToken {
  return readPayload(VERSION, token, secrets, now);
}

/** Reads a temporary link's token: `link.entitlementId` holds the link's id (its row). */
export function readTemporaryDownloadToken(
  token: string,
  secrets: readonly string[],
  now = Date.now(),
): ReadDownloadToken {
  return readPayload(TEMPORARY_VERSION, token, secrets, now);
}

function readPayload(
  version: number,
  token: string,
  secrets: readonly string[],
  now: number,
): ReadDownloadToken {
  if (!/^[A-Za-z0-9_-]{51}$/.test(token)) return { ok: false };
  const bytes = Buffer.from(token, 'base64url');
  const payload = bytes.subarray(0, PAYLOAD_BYTES);
  const presented = bytes.subarray(PAYLOAD_BYTES);
  if (
    presented.length !== MAC_BYTES ||
    !secrets.some((secret) => timingSafeEqual(mac(payload, secret), presented))
  ) {
    return { ok: false };
  }
  const format = FORMATS[payload.readUInt8(17)];
  if (payload.readUInt8(0) !== version || !format) return { ok: false };
  const hex = payload.subarray(1, 17).toString('hex');
  const entitlementId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const expiresAt = new Date(payload.readUInt32BE(18) * 1000);
  return {
    ok: true,
    link: { entitlementId, format, expiresAt },
    expired: expiresAt.getTime() <= now,
  };
}
