/**
 * The gate's side of the sandbox (I/O): the base commit's gate definition written to a private
 * folder to be bound read-only over the worktree, and the paths of the repository no gate step
 * may see.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FixesConfig } from '../config/index.js';
import { git, gitOut } from '../process/index.js';
import { gateDefinitionFiles, packageScripts } from './gate-definition.js';

/** The base commit's gate definition, ready to bind over a worktree. */
export interface BaseDefinition {
  /** Repository-relative files. */
  files: string[];
  /** Where their base versions were written; remove with {@link BaseDefinition.dispose}. */
  dir: string;
  /** `{ source, target }` for `worktree`. */
  overlays(worktree: string): Array<{ source: string; target: string }>;
  dispose(): void;
}

/** The commands of the configured gate (install, steps, regression template). */
export function gateCommands(config: FixesConfig): string[] {
  const gate = config.gate;
  return [...(gate.install ? [gate.install.run] : []), ...gate.steps.map((s) => s.run), gate.regression.command];
}

/** The gate definition files of `rev` (see `gateDefinitionFiles`). */
export async function gateFilesAt(repo: string, rev: string, config: FixesConfig): Promise<string[]> {
  const listing = await gitOut(repo, ['ls-tree', '-r', '--name-only', '-z', rev]);
  const files = listing.split('\0').filter(Boolean);
  const pkg = await git(repo, ['show', `${rev}:package.json`], { allowFail: true, raw: true });
  return gateDefinitionFiles(files, gateCommands(config), packageScripts(pkg.exitCode === 0 ? pkg.stdout : undefined));
}

/** Write the base commit's gate definition to a private folder. */
export async function baseDefinition(repo: string, base: string, config: FixesConfig): Promise<BaseDefinition> {
  const files = await gateFilesAt(repo, base, config);
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-gatedef-'));
  for (const f of files) {
    const blob = await git(repo, ['show', `${base}:${f}`], { raw: true });
    const target = path.join(dir, f);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, blob.stdout);
  }
  return {
    files,
    dir,
    overlays: (worktree) => files.map((f) => ({ source: path.join(dir, f), target: path.join(worktree, f) })),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The git folder of `repo` (its `.git`, shared by every worktree): hidden from every sandboxed run. */
export async function gitDirOf(repo: string): Promise<string> {
  return gitOut(repo, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
}
