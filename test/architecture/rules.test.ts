// The architecture rules that `npm run check` runs (.dependency-cruiser.cjs and the
// all-sql-in-db lint rule), fed deliberately broken trees: each must fail, naming its rule.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const depcruise = path.join(repo, 'node_modules', '.bin', 'depcruise');
const scratchDirs: string[] = [];

afterEach(async () => {
  for (const dir of scratchDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Writes `files` into a scratch tree beside the real rules and cruises it. */
async function cruise(files: Record<string, string>): Promise<{ failed: boolean; output: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'architecture-'));
  scratchDirs.push(dir);
  await copyFile(
    path.join(repo, '.dependency-cruiser.cjs'),
    path.join(dir, '.dependency-cruiser.cjs'),
  );
  await copyFile(path.join(repo, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  for (const [file, source] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), source);
  }
  const folders = [...new Set(Object.keys(files).map((file) => file.split('/')[0]!))];
  try {
    const { stdout } = await run(
      depcruise,
      ['--config', '.dependency-cruiser.cjs', '--output-type', 'err', ...folders],
      { cwd: dir },
    );
    return { failed: false, output: stdout };
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    return { failed: true, output: `${stdout}${stderr}` };
  }
}

describe('architecture rules', () => {
  it('fails when db/ imports anything above it, naming the rule', async () => {
    const result = await cruise({
      'db/queries/orders.ts':
        "import { buildApp } from '../../api/app.ts';\nexport const x = buildApp;\n",
      'api/app.ts': 'export const buildApp = 1;\n',
    });
    expect(result.failed).toBe(true);
    expect(result.output).toContain('db-imports-nothing-above: db/queries/orders.ts → api/app.ts');
    expect(result.output).toContain('layer-db');
  });

  it('lets workflows import activities as types only', async () => {
    const typeOnly = await cruise({
      'workflows/fulfillment.ts':
        "import type { Activities } from '../activities/index.ts';\nexport type A = Activities;\n",
      'activities/index.ts': 'export type Activities = { a(): void };\n',
    });
    expect(typeOnly.failed, typeOnly.output).toBe(false);

    const valueImport = await cruise({
      'workflows/fulfillment.ts':
        "import { createActivities } from '../activities/index.ts';\nexport const a = createActivities;\n",
      'activities/index.ts': 'export const createActivities = 1;\n',
    });
    expect(valueImport.failed).toBe(true);
    expect(valueImport.output).toContain('workflows-import-activities-as-types-only');
  });

  it('fails on an import cycle between two files of one folder', async () => {
    const result = await cruise({
      'support/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'support/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    });
    expect(result.failed).toBe(true);
    expect(result.output).toContain('no-circular');
  });

  it('fails when a lower folder imports a higher one (no folder cycles)', async () => {
    const result = await cruise({
      'gateway/dispatch.ts':
        "import { retryJob } from '../support/jobs.ts';\nexport const d = retryJob;\n",
      'support/jobs.ts': 'export const retryJob = 1;\n',
    });
    expect(result.failed).toBe(true);
    expect(result.output).toContain('layer-gateway: gateway/dispatch.ts → support/jobs.ts');
  });

  it('fails when the web entry reaches worker code, even through another file', async () => {
    const result = await cruise({
      'scripts/api.ts': "import { wiring } from './lib/wiring.ts';\nexport const w = wiring;\n",
      'scripts/lib/wiring.ts':
        "import { createWorker } from '../../worker/worker.ts';\nexport const wiring = createWorker;\n",
      'worker/worker.ts': 'export const createWorker = 1;\n',
    });
    expect(result.failed).toBe(true);
    expect(result.output).toContain(
      'web-entry-never-loads-worker-code: scripts/api.ts → worker/worker.ts',
    );
  });

  it('fails when the worker entry reaches the web app', async () => {
    const result = await cruise({
      'scripts/worker.ts':
        "import { buildApp } from '../api/app.ts';\nexport const b = buildApp;\n",
      'api/app.ts': 'export const buildApp = 1;\n',
    });
    expect(result.failed).toBe(true);
    expect(result.output).toContain('worker-entry-never-loads-web-app');
  });

  it('fails when production code imports test/', async () => {
    const result = await cruise({
      'chaos/scenario.ts':
        "import { helper } from '../test/helpers/h.ts';\nexport const s = helper;\n",
      'test/helpers/h.ts': 'export const helper = 1;\n',
    });
    expect(result.failed).toBe(true);
    expect(result.output).toContain('production-never-imports-test');
  });

  it('passes on the real tree', async () => {
    const { stdout } = await run(
      depcruise,
      ['--config', '.dependency-cruiser.cjs', '--output-type', 'err', '.'],
      { cwd: repo },
    );
    expect(stdout).toContain('no dependency violations found');
  });
});

describe('all-sql-in-db', () => {
  // The project's own ESLint configuration, without type information (the fixture is not a
  // file of the program): the rule is syntactic.
  const eslint = new ESLint({ cwd: repo, overrideConfig: tseslint.configs.disableTypeChecked });
  const lint = async (filePath: string, code: string): Promise<string[]> => {
    const [result] = await eslint.lintText(code, { filePath: path.join(repo, filePath) });
    return result!.messages.filter((m) => m.severity === 2).map((m) => m.message);
  };
  const query = [
    "import type { Db } from '../db/database.ts';",
    'export const count = (db: Db) =>',
    "  db.selectFrom('orders').select('id').execute();",
    '',
  ].join('\n');

  it('fails a query builder outside db/, naming the rule', async () => {
    const messages = await lint('support/fixture.ts', query);
    expect(messages).toEqual([expect.stringContaining('all-sql-in-db')]);
  });

  it('fails raw SQL and a transaction opened outside db/', async () => {
    const messages = await lint(
      'api/fixture.ts',
      [
        "import type { Db } from '../db/database.ts';",
        'declare const sql: (s: TemplateStringsArray) => unknown;',
        'export const now = sql`now()`;',
        'export const tx = (db: Db) => db.transaction();',
        '',
      ].join('\n'),
    );
    expect(messages).toHaveLength(2);
    for (const message of messages) expect(message).toContain('all-sql-in-db');
  });

  it('allows the same query in db/', async () => {
    expect(await lint('db/queries/fixture.ts', query.replace('../db/', '../'))).toEqual([]);
  });
});
