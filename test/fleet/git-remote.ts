/** Git for the fleet tests: a fixed identity, and a bare "shared remote" seeded with one commit. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Run git in `cwd` with a fixed author and committer; returns trimmed stdout. */
export function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@x',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@x',
    },
  }).trim();
}

/** `<dir>/remote.git`, a bare repository whose main holds one commit (app.js); returns its path. */
export function seedRemote(dir: string): string {
  const bare = path.join(dir, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  const seed = path.join(dir, 'seed');
  mkdirSync(seed);
  sh(seed, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(seed, 'app.js'), 'console.log(1)\n');
  sh(seed, 'add', '.');
  sh(seed, 'commit', '-qm', 'base');
  sh(seed, 'push', '-q', bare, 'main');
  return bare;
}
