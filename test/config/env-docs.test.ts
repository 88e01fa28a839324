// Every variable the service reads is documented twice: commented in .env.example and in
// README.md's environment table. These tests keep the three lists equal.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../config/env.ts';

const read = (file: string): string =>
  readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

const schemaVariables = Object.keys(envSchema.shape).sort();

/** Read by the tool resolvers (stack/binaries.ts, stack/kubernetes-schemas.ts), not the service. */
const RESOLVER_VARIABLES = [
  'TEMPORAL_CLI_PATH',
  'TEMPORAL_TEST_SERVER_PATH',
  'LOCALSTRIPE_PATH',
  // stack/kubernetes-schemas.ts: the schemas the manifest tests validate against.
  'KUBERNETES_SCHEMAS_DIR',
];

/** Variables only temporal.docker-compose.yml reads (database passwords, published ports). */
const composeOnlyVariables = [
  ...new Set(
    [...read('temporal.docker-compose.yml').matchAll(/\$\{(\w+)/g)].map((match) => match[1]!),
  ),
].filter((name) => !schemaVariables.includes(name));

/** `NAME=` lines of .env.example, commented out or not. */
const exampleVariables = [
  ...new Set([...read('.env.example').matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!)),
].sort();

/** Every backticked NAME in the first column of the README's "Environment variables" table. */
function readmeVariables(): string[] {
  const readme = read('README.md');
  const start = readme.indexOf('## Environment variables');
  expect(start, 'README.md has an "Environment variables" section').toBeGreaterThan(-1);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const names = section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)])
    .map((match) => match[1]!);
  return [...new Set(names)].sort();
}

const missing = (from: string[], inside: string[]) => from.filter((name) => !inside.includes(name));

describe('environment documentation', () => {
  it('lists every envSchema variable in .env.example', () => {
    expect(missing(schemaVariables, exampleVariables)).toEqual([]);
  });

  it('documents every envSchema variable in the README table', () => {
    expect(missing(schemaVariables, readmeVariables())).toEqual([]);
  });

  it('documents nothing the service does not read', () => {
    const known = [...schemaVariables, ...RESOLVER_VARIABLES, ...composeOnlyVariables];
    expect(missing(exampleVariables, known)).toEqual([]);
    expect(missing(readmeVariables(), known)).toEqual([]);
  });

  it('documents the variables the resolver and the compose file read, too', () => {
    const extra = [...RESOLVER_VARIABLES, ...composeOnlyVariables];
    expect(missing(extra, exampleVariables)).toEqual([]);
    expect(missing(extra, readmeVariables())).toEqual([]);
  });
});
