import { createHmac } from 'node:crypto';

/**
 * What `CustomerEmail` holds instead of the address: `hmac1_` + the first 32 hex characters
 * (128 bits) of HMAC-SHA256(key, trimmed lower-cased email). Search attributes bypass the
 * payload codec and are indexed in clear, so they get a keyed hash: equal for the same buyer,
 * useless to whoever reads the visibility store without the key. 128 bits keeps collisions out
 * of reach for any number of buyers. The prefix names the scheme, so a later one can coexist.
 */
export function customerEmailSearchValue(email: string, key: string): string {
  const digest = createHmac('sha256', key).update(email.trim().toLowerCase()).digest('hex');
  return `hmac1_${digest.slice(0, 32)}`;
}

/**
 * The hash key when SEARCH_ATTRIBUTE_HASH_KEY is unset (development and tests only; production
 * refuses to start without one): public, so it hides nothing from anyone who reads this file.
 */
export const DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY = 'development-only-search-attribute-hash-key';
