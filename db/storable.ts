/*
 * What PostgreSQL's text and jsonb can hold. Its text type cannot store U+0000, and jsonb
 * refuses `\u0000` and unpaired surrogate escapes, whatever the quoting: input carrying them
 * is refused (a 400) or kept as raw bytes (bytea) instead.
 */

/** An unpaired UTF-16 surrogate: what a JSON `\ud800` escape decodes to; not Unicode text. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `value` cannot be stored as text, or null when it can. */
export function unstorableTextReason(value: string): string | null {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'is not valid UTF-8';
  return null;
}

export const isStorableText = (value: string): boolean => unstorableTextReason(value) === null;

/** Whether every string and key inside `value` is storable, so jsonb can hold it. */
export function jsonbCanHold(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (Array.isArray(value)) return value.every(jsonbCanHold);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).every(
      ([key, inner]) => isStorableText(key) && jsonbCanHold(inner),
    );
  return true;
}
