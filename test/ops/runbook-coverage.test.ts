// docs/RUNBOOK.md maps every support procedure of the seeds to a command; this file checks,
// from the text alone (no stack), that every `npm run ops -- <command> [<sub>]` named anywhere
// in it is dispatched by scripts/ops.ts, listed in its usage, and run by at least one test file.
// Data-driven: a command another change adds to the runbook is checked the same way.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const RUNBOOK = read('docs/RUNBOOK.md');
const THIS_FILE = 'test/ops/runbook-coverage.test.ts';

function files(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(path.join(root, file)).isDirectory()) return files(file);
    return file.endsWith('.ts') && file !== THIS_FILE ? [file] : [];
  });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every `npm run ops -- <command> [<sub>]` in the runbook, fenced or inline, once each. */
function runbookCommands(): { command: string; sub: string | null }[] {
  const seen = new Map<string, { command: string; sub: string | null }>();
  for (const match of RUNBOOK.matchAll(/npm run ops -- ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)) {
    const entry = { command: match[1]!, sub: match[2] ?? null };
    seen.set(`${entry.command} ${entry.sub ?? ''}`, entry);
  }
  return [...seen.values()];
}

const usage = async () =>
  (
    await promisify(execFile)(process.execPath, ['scripts/ops.ts', 'help'], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '' },
    })
  ).stdout
    .split('\n')
    .map((line) => line.trim());

/** The subcommands of each command, from its usage lines (`events list …`, `jobs show …`). */
function subcommandsOf(lines: string[]): Map<string, Set<string>> {
  const subs = new Map<string, Set<string>>();
  for (const line of lines) {
    // `cmd sub …`: one space; a description follows the usage after several.
    const [command, word] = line.split(' ');
    if (!command || !/^[a-z][a-z-]*$/.test(command)) continue;
    const set = subs.get(command) ?? new Set<string>();
    if (word && /^[a-z][a-z-]*$/.test(word)) set.add(word);
    subs.set(command, set);
  }
  return subs;
}

describe('docs/RUNBOOK.md command coverage', () => {
  const commands = runbookCommands();
  const testSources = files('test').map((file) => ({ file, text: read(file) }));
  let subcommands: Map<string, Set<string>>;
  beforeAll(async () => {
    subcommands = subcommandsOf(await usage());
  });

  it('maps each seed procedure to a command', () => {
    const section = RUNBOOK.slice(
      RUNBOOK.indexOf('## Seed procedures'),
      RUNBOOK.indexOf('\n## ', RUNBOOK.indexOf('## Seed procedures') + 1),
    );
    const rows = section.split('\n').filter((line) => /^\| \d{3} /.test(line));
    expect(rows.length).toBeGreaterThan(15);
    for (const row of rows) expect(row, row).toMatch(/`npm run ops -- [a-z]/);
    const seeds = new Set(rows.map((row) => row.slice(2, 5)));
    expect([...seeds].sort()).toEqual(expect.arrayContaining(['000', '001', '003', '004']));
  });

  it('names only commands scripts/ops.ts dispatches and lists in its usage', () => {
    expect(commands.length).toBeGreaterThan(15);
    const dispatch = read('scripts/ops.ts');
    for (const { command, sub } of commands) {
      const label = `npm run ops -- ${command}${sub ? ` ${sub}` : ''}`;
      expect(dispatch, `${label}: dispatched by scripts/ops.ts`).toContain(`'${command}'`);
      const subs = subcommands.get(command);
      expect(subs, `${label}: in the usage`).toBeDefined();
      // A command with subcommands needs one of them; without, the next word is an argument.
      if (subs!.size > 0) expect([...subs!], `${label}: a subcommand`).toContain(sub);
    }
  });

  it('has every command run by at least one test file', () => {
    const unexercised: string[] = [];
    for (const { command, sub } of commands) {
      const withSub = sub !== null && (subcommands.get(command)?.size ?? 0) > 0;
      const pattern = withSub
        ? new RegExp(`['"]${escape(command)}['"],\\s*['"]${escape(sub)}['"]`)
        : new RegExp(`(\\[|\\(|'scripts/ops\\.ts',)\\s*['"]${escape(command)}['"]`);
      if (!testSources.some(({ text }) => pattern.test(text)))
        unexercised.push(`npm run ops -- ${command}${withSub ? ` ${sub}` : ''}`);
    }
    expect(unexercised).toEqual([]);
  });
});
