const EMAIL_PART = `[^\\s/?&=:;,"'<>()\\[\\]]+`;
/** An email address, also URL-encoded (`%40`), as it appears in messages, paths and queries. */
export const EMAIL_PATTERN = new RegExp(
  `${EMAIL_PART}(?:@|%40)${EMAIL_PART}\\.${EMAIL_PART}`,
  'gi',
);

/**
 * Replaces every email address in a text bound for a log line (messages, alert summaries,
 * database error details): logs do not need buyers' addresses, the database rows keep them.
 */
export const redactEmails = (text: string): string => text.replace(EMAIL_PATTERN, '[email]');
