import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Teardown steps run newest first, each one even when an earlier one failed: whatever a run
 * started is stopped and removed however far it got.
 */
export class Cleanups {
  private readonly steps: { name: string; step: () => Promise<unknown> }[] = [];
  private readonly label: string;

  /** `label` prefixes the line a failed step prints, e.g. `[bench] cleanup "api" failed`. */
  constructor(label: string) {
    this.label = label;
  }

  add(name: string, step: () => Promise<unknown>): void {
    this.steps.push({ name, step });
  }

  async runAll(): Promise<void> {
    for (const { name, step } of this.steps.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`[${this.label}] cleanup "${name}" failed:`, error);
      }
    }
    this.steps.length = 0;
  }
}

/** A new folder under the OS temp folder (`<prefix><random>`), removed by `cleanups`. */
export async function makeScratchDir(cleanups: Cleanups, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.add(`folder ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}
