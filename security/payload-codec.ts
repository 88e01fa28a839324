import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  METADATA_ENCODING_KEY,
  ValueError,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
// A CommonJS module: Node's ESM loader cannot see its named exports.
import proto from '@temporalio/proto';

const PayloadMessage = proto.temporal.api.common.v1.Payload;

/** The `encoding` metadata of an encrypted payload (the name Temporal's samples use). */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Which key encrypted the payload, so a rotated-out key can still decrypt its history. */
export const ENCRYPTION_KEY_ID_METADATA = 'encryption-key-id';

/** AES-256-GCM: a 12-byte random nonce per payload (NIST SP 800-38D), a 16-byte tag. */
const CIPHER = 'aes-256-gcm';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface PayloadKey {
  /** Short, stable name recorded in every payload it encrypts (never the key itself). */
  id: string;
  key: Buffer;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * Parses `keyId:base64key[,keyId:base64key…]` (PAYLOAD_ENCRYPTION_KEYS). Throws an Error
 * naming the malformed entry by position and id only, never by its key material.
 */
export function parsePayloadKeys(value: string): PayloadKey[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error('needs at least one keyId:base64key entry');
  const keys = entries.map((entry, index) => {
    const separator = entry.indexOf(':');
    const id = separator > 0 ? entry.slice(0, separator) : '';
    const material = separator > 0 ? entry.slice(separator + 1) : '';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw new Error(`entry ${index + 1} must be keyId:base64key with a key id of [A-Za-z0-9._-]`);
    const key = Buffer.from(material, 'base64');
    if (key.length !== KEY_BYTES)
      throw new Error(
        `key "${id}" must be ${KEY_BYTES} bytes, base64-encoded (openssl rand -base64 32)`,
      );
    return { id, key };
  });
  const ids = new Set(keys.map((key) => key.id));
  if (ids.size !== keys.length) throw new Error('key ids must be unique');
  return keys;
}

/** A fresh `keyId:base64key` entry (what `npm start` writes into .data/). */
export function generatePayloadKeyEntry(id: string): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/**
 * Encrypts every payload with the first key (AES-256-GCM over the whole serialized payload,
 * metadata included, so not even the original encoding shows) and decrypts with whichever key
 * the payload names. Payloads without the encrypted encoding pass through decode unchanged:
 * histories recorded before encryption stay readable. The key id is authenticated as
 * associated data, so relabelling a payload with another key id fails instead of misleading.
 */
export class EncryptionCodec implements PayloadCodec {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: PayloadKey;

  constructor(keys: readonly PayloadKey[]) {
    const [current] = keys;
    if (!current) throw new Error('EncryptionCodec needs at least one key');
    this.#current = current;
    this.#keys = new Map(keys.map(({ id, key }) => [id, key]));
  }

  /** The id new payloads are encrypted with. */
  get currentKeyId(): string {
    return this.#current.id;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((payload) => this.#encrypt(payload)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((payload) => this.#decrypt(payload)));
  }

  #encrypt(payload: Payload): Payload {
    const { id, key } = this.#current;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(CIPHER, key, nonce);
    cipher.setAAD(utf8.encode(id));
    const plain = PayloadMessage.encode(payload).finish();
    const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8.encode(ENCRYPTED_ENCODING),
        [ENCRYPTION_KEY_ID_METADATA]: utf8.encode(id),
      },
      data,
    };
  }

  #decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || fromUtf8.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
    const idBytes = payload.metadata?.[ENCRYPTION_KEY_ID_METADATA];
    if (!idBytes) throw new ValueError('encrypted payload without an encryption-key-id');
    const id = fromUtf8.decode(idBytes);
    const key = this.#keys.get(id);
    if (!key) {
      throw new ValueError(
        `payload encrypted with key "${id}", which is not in PAYLOAD_ENCRYPTION_KEYS (keep rotated-out keys listed until their histories expire)`,
      );
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < NONCE_BYTES + TAG_BYTES)
      throw new ValueError('encrypted payload is truncated');
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(idBytes);
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new ValueError(`payload does not authenticate under key "${id}"`);
    }
    const decoded = PayloadMessage.decode(plain);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}
