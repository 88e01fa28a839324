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

/** A Kysely query builder or raw SQL: allowed in db/ and migrations/ only (rule all-sql-in-db). */
export const queryBuilderSelectors = [
  'CallExpression[callee.property.name=/^(selectFrom|selectNoFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto)$/]',
  "CallExpression[callee.property.name='transaction'][arguments.length=0]",
  "CallExpression[callee.property.name='with'][arguments.0.type='Literal']",
  "TaggedTemplateExpression[tag.name='sql']",
  "TaggedTemplateExpression[tag.object.name='sql']",
].map((selector) => ({
  selector,
  message:
    'all-sql-in-db: Kysely query builders and raw SQL live in db/ (a verb-first query function or a named transaction).',
}));

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
    // All SQL lives in db/ (README "Layout"): elsewhere, call a verb-first query function.
    files: ['**/*.ts'],
    ignores: ['db/**', 'migrations/**', 'test/**'],
    rules: {
      'no-restricted-syntax': ['error', ...queryBuilderSelectors],
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
