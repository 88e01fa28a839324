import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import * as prettier from 'prettier';

/** The machine a figure was measured on, in one line. */
export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const memoryGiB = os.totalmem() / 1024 ** 3;
  return (
    `${model} × ${cpus.length}, ${memoryGiB.toFixed(1)} GiB RAM, ` +
    `${os.type()} ${os.release()} (${os.arch()}), Node ${process.version}`
  );
}

export function formatMarkdownTable(header: readonly string[], rows: readonly string[][]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = header.map((_, column) => (column === 0 ? '---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

/**
 * Replaces the `## <name>` section of a markdown file (up to the next `## ` heading), or
 * appends it; creates the file with `intro` when it does not exist. Other sections are kept.
 */
export async function writeMarkdownSection(
  file: string,
  name: string,
  section: string,
  intro: string,
): Promise<void> {
  const current = existsSync(file) ? await readFile(file, 'utf8') : `${intro.trim()}\n`;
  const lines = current.split('\n');
  const heading = `## ${name}`;
  const start = lines.findIndex((line) => line.trim() === heading);
  const replacement = [heading, '', section.trim(), ''];
  if (start === -1) {
    await writeFormatted(file, [...current.trimEnd().split('\n'), '', ...replacement]);
    return;
  }
  const next = lines.findIndex((line, index) => index > start && line.startsWith('## '));
  const end = next === -1 ? lines.length : next;
  await writeFormatted(file, [...lines.slice(0, start), ...replacement, ...lines.slice(end)]);
}

/** Written as `npm run format` would write it, so the check gate stays green after a run. */
async function writeFormatted(file: string, lines: readonly string[]): Promise<void> {
  const config = await prettier.resolveConfig(file);
  await writeFile(file, await prettier.format(lines.join('\n'), { ...config, filepath: file }));
}
