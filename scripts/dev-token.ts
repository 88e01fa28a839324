// `npm run dev-token -- [--sub auth0|demo] [--email buyer@example.com]`: prints a storefront
// JWT signed with the local key that `npm start` generated (never used in production).
import { parseArgs } from 'node:util';
import { envSchema } from '../config/env.ts';
import { ensureDevJwks, mintDevToken } from './lib/dev-auth.ts';
import { loadDotEnv } from './lib/runtime.ts';

loadDotEnv();
const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'auth0|demo-user' },
    email: { type: 'string', default: 'buyer@example.com' },
  },
});
const settings = envSchema.pick({ AUTH_ISSUER: true, AUTH_AUDIENCE: true }).parse(process.env);
await ensureDevJwks();
console.log(
  await mintDevToken(
    { sub: values.sub, email: values.email },
    settings.AUTH_ISSUER,
    settings.AUTH_AUDIENCE,
  ),
);
