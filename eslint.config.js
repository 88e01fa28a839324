// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Workflow code is replayed deterministically inside Temporal's sandbox: no I/O, no clocks, no
 * database. Anything with side effects belongs in activities/, reached through proxyActivities. */
const workflowBannedModules = [
  ...builtinModules,
  ...builtinModules.map((name) => `node:${name}`),
  'pg',
  'kysely',
  'kysely-pglite-dialect',
  '@electric-sql/pglite',
  'stripe',
  'fastify',
];

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', '.tools/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Fastify plugins are async by contract even when they only register routes.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: workflowBannedModules.map((name) => ({
            name,
            message: 'Workflows are deterministic: side effects belong in activities/.',
          })),
          patterns: [
            {
              group: ['**/db', '**/db/**'],
              message: 'Workflows never touch the database: call an activity.',
            },
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities as types only and call them through proxyActivities.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['eslint.config.js', '.dependency-cruiser.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['.dependency-cruiser.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } },
  },
);
