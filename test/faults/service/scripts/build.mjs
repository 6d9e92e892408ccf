// The service's build: a syntax check of every module. A release build (under the releases
// folder) also takes a moment, as real builds do: a window in which a deploy can be stopped or
// its supervisor killed.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const files = ['server.mjs', ...readdirSync('lib').map((f) => path.join('lib', f))];
for (const f of files) execFileSync(process.execPath, ['--check', f], { stdio: 'inherit' });
if (process.cwd().includes(`${path.sep}releases${path.sep}`)) await new Promise((r) => setTimeout(r, 2000));
