import type { z } from 'zod';

/** One route as /docs describes it (api/openapi.ts gathers them). */
export interface Operation {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  security?: 'endUser' | 'service' | 'stripeSignature' | 'svixSignature' | 'operator';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Status → description and, for JSON answers, the body's schema (null: no JSON body). */
  responses: Record<number, [string, z.ZodType | null]>;
}
