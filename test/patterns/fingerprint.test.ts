import { afterEach, describe, expect, it } from 'vitest';
import {
  addCodeRoots,
  clearCodeRoots,
  fingerprintFrames,
  isInApp,
  normalizePath,
  parseFrame,
  siteFrames,
} from '../../src/patterns/fingerprint.js';

const stack = (lines: string[]) => ['Error: boom', ...lines.map((l) => `    at ${l}`)].join('\n');

describe('parseFrame', () => {
  it('reads V8 frames', () => {
    expect(parseFrame('    at getUser (/srv/app/src/users.ts:10:5)')).toEqual({
      fn: 'getUser',
      file: '/srv/app/src/users.ts',
      line: 10,
      column: 5,
    });
    expect(parseFrame('    at async Promise.all (index 0)')?.fn).toBe('Promise.all');
    expect(parseFrame('    at /srv/app/src/main.js:3:1')).toMatchObject({
      fn: '',
      file: '/srv/app/src/main.js',
      line: 3,
    });
    expect(parseFrame('    at new Server (file:///srv/app/dist/server.js:1:2)')?.fn).toBe('Server');
    expect(parseFrame('    at Object.run [as handler] (/a/src/x.js:1:1)')?.fn).toBe('Object.run');
  });

  it('ignores lines that are not frames', () => {
    expect(parseFrame('Error: something bad happened')).toBeUndefined();
    expect(parseFrame('')).toBeUndefined();
  });
});

describe('in-application frames', () => {
  it('skips node_modules and Node internals', () => {
    expect(isInApp({ fn: 'x', file: '/srv/app/node_modules/express/lib/router.js' })).toBe(false);
    expect(isInApp({ fn: 'x', file: 'node:internal/process/task_queues' })).toBe(false);
    expect(isInApp({ fn: 'x', file: 'internal/modules/cjs/loader.js' })).toBe(false);
    expect(isInApp({ fn: 'x', file: 'C:\\app\\node_modules\\pg\\lib\\client.js' })).toBe(false);
    expect(isInApp({ fn: 'getUser', file: '/srv/app/src/users.ts' })).toBe(true);
  });

  it('normalises paths across checkouts, builds and URLs', () => {
    expect(normalizePath('/home/ci/build-42/src/users.ts')).toBe('src/users.ts');
    expect(normalizePath('file:///srv/app/dist/users.js?v=3')).toBe('dist/users.js');
    expect(normalizePath('C:\\work\\app\\src\\users.ts')).toBe('src/users.ts');
    expect(normalizePath('/opt/x/y/main.3f2a9c1b7d.js')).toBe('y/main.js');
  });

  it('keeps the top N in-application frames as file:function', () => {
    const s = stack([
      'Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)',
      'getUser (/srv/app/src/users.ts:10:5)',
      'Object.route (/srv/app/src/routes.ts:20:3)',
      'main (/srv/app/src/main.ts:5:1)',
      'boot (/srv/app/src/boot.ts:1:1)',
    ]);
    expect(siteFrames([s])).toEqual(['src/users.ts:getUser', 'src/routes.ts:route', 'src/main.ts:main']);
    expect(siteFrames([s], { maxFrames: 1 })).toEqual(['src/users.ts:getUser']);
    expect(siteFrames([s], { maxFrames: 0 })).toEqual([]);
  });

  it('keeps the line of an anonymous frame', () => {
    expect(siteFrames([stack(['/srv/app/src/a.js:7:3'])])).toEqual(['src/a.js:7']);
  });
});

describe('fingerprintFrames', () => {
  const here = (line: number, root = '/srv/app') => stack([`getUser (${root}/src/users.ts:${line}:5)`]);

  it('is stable across line moves and checkout paths', () => {
    expect(fingerprintFrames([here(10)])).toBe(fingerprintFrames([here(42, '/home/ci/w')]));
  });

  it('differs between code sites', () => {
    const other = stack(['loadOrder (/srv/app/src/orders.ts:3:1)']);
    expect(fingerprintFrames([here(10)])).not.toBe(fingerprintFrames([other]));
  });

  it('is empty without in-application frames', () => {
    expect(fingerprintFrames(undefined)).toBe('');
    expect(fingerprintFrames([])).toBe('');
    expect(fingerprintFrames([stack(['emit (node:events:519:28)'])])).toBe('');
  });

  it('accepts one string per frame as well as one multi-line stack', () => {
    const frames = ['    at getUser (/srv/app/src/users.ts:10:5)', '    at main (/srv/app/src/main.ts:1:1)'];
    expect(fingerprintFrames(frames)).toBe(fingerprintFrames([frames.join('\n')]));
  });
});

describe('location-free frame paths', () => {
  const tree = 'a'.repeat(40);
  const other = 'b'.repeat(40);
  const err = (file: string) => stack([`price (${file}:12:7)`, `handle (${file.replace(/pricing/, 'server')}:40:3)`]);
  afterEach(() => clearCodeRoots());

  it('gives one fingerprint for a root file run from the checkout, any release folder and any fix worktree', () => {
    addCodeRoots({ roots: ['/home/u/shop'], containers: ['/home/u/shop/.dancer/releases', '/var/dancer/worktrees'] });
    const places = [
      '/home/u/shop/pricing.mjs',
      `/home/u/shop/.dancer/releases/${tree}/pricing.mjs`,
      `/home/u/shop/.dancer/releases/${other}/pricing.mjs`,
      '/var/dancer/worktrees/fix-20261206-1700-3f2a9c1b/pricing.mjs',
    ];
    const prints = new Set(places.map((p) => fingerprintFrames([err(p)])));
    expect(prints.size).toBe(1);
    expect(siteFrames([err(places[1] as string)])[0]).toBe('pricing.mjs:price');
  });

  it('keeps the whole relative path at any depth', () => {
    addCodeRoots({ roots: ['/srv/app'], containers: ['/srv/releases'] });
    expect(normalizePath('/srv/app/routes/v1/deep/x.js')).toBe('routes/v1/deep/x.js');
    expect(normalizePath(`/srv/releases/${tree}/routes/v1/deep/x.js`)).toBe('routes/v1/deep/x.js');
    expect(normalizePath(`file:///srv/releases/${tree}/x.js`)).toBe('x.js');
  });

  it('recognises release folders and fix worktrees without registration', () => {
    expect(normalizePath(`/anywhere/${tree}/pricing.mjs`)).toBe('pricing.mjs');
    expect(normalizePath(`/x/releases/${'c'.repeat(64)}/lib/a.js`)).toBe('lib/a.js');
    expect(normalizePath('/tmp/wt/fix-20261206-1700-3f2a9c1b-2/pricing.mjs')).toBe('pricing.mjs');
    expect(normalizePath('/home/u/shop/pricing.mjs')).toBe('shop/pricing.mjs');
  });

  it('leaves unrelated paths to the folder rule', () => {
    addCodeRoots({ roots: ['/srv/app'], containers: [] });
    expect(normalizePath('/elsewhere/build-7/src/users.ts')).toBe('src/users.ts');
  });
});
