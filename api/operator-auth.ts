import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { authenticateBearer } from './service-tokens.ts';

/** What an operator may do: `support` reads and resends; `admin` does everything. */
export const operatorRoles = ['support', 'admin'] as const;
export type OperatorRole = (typeof operatorRoles)[number];

/** Who acted, as recorded in `audit_log.actor`. */
export interface Operator {
  name: string;
  role: OperatorRole;
}

/** One entry of OPERATOR_TOKENS (`name:role:token`). */
export interface OperatorToken extends Operator {
  token: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator behind the bearer token; set by `requireOperator`. */
    operator?: Operator;
  }
}

const rank: Record<OperatorRole, number> = { support: 1, admin: 2 };

/** Whether `role` includes everything `minimumRole` may do. */
export const roleAllows = (role: OperatorRole, minimumRole: OperatorRole): boolean =>
  rank[role] >= rank[minimumRole];

/**
 * A preHandler that admits a request only with an operator token of at least `minimumRole`:
 * 401 without a known token, 403 when the role is too low. Sets `request.operator`.
 */
export function requireOperator(
  tokens: readonly OperatorToken[],
  minimumRole: OperatorRole,
): preHandlerAsyncHookHandler {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const holder = authenticateBearer(request, tokens);
    if (!holder) {
      return reply.code(401).send({ error: 'a valid operator token is required' });
    }
    if (!roleAllows(holder.role, minimumRole)) {
      return reply
        .code(403)
        .send({ error: `the ${minimumRole} role is required (this token is ${holder.role})` });
    }
    request.operator = { name: holder.name, role: holder.role };
  };
}

/** The operator set by `requireOperator`; throws when the route forgot the preHandler. */
export function operatorOf(request: FastifyRequest): Operator {
  if (!request.operator) throw new Error('route is missing the requireOperator preHandler');
  return request.operator;
}
