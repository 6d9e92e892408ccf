import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { detectProject, nodeEntryOf, serviceName } from '../../src/cli/init-detect.js';
import { renderDancerYaml } from '../../src/cli/init-yaml.js';
import { gateDefinitionFiles } from '../../src/fixes/gate-definition.js';
import { gateCommands } from '../../src/fixes/gate-sandbox.js';
import { loadConfigText } from './init-helpers.js';

const facts = (texts: Record<string, string>, extra: string[] = [], dirName = 'proj') => ({
  dirName,
  files: [...Object.keys(texts), ...extra],
  texts,
});

describe('detectProject', () => {
  it('a plain node:http service on PORT at the root: port mode, PORT set, the code default port kept', () => {
    const plan = detectProject(
      facts({
        'package.json': JSON.stringify({ name: '@acme/Orders API', main: 'server.js' }),
        'server.js':
          "const http = require('node:http');\nhttp.createServer((q, s) => s.end('ok')).listen(process.env.PORT || 3000);\n",
      }),
    );
    expect(plan).toMatchObject({
      kind: 'node',
      name: 'orders-api',
      start: 'node server.js',
      listen: 'port',
      readsPort: true,
      port: 3000,
      entry: 'server.js',
    });
    expect(plan.test).toBeUndefined();
    const yaml = renderDancerYaml(plan);
    const config = parse(yaml);
    expect(config.service.mode).toBe('port');
    expect(config.service.listen).toEqual([{ name: 'http', port: 3000, host: '127.0.0.1' }]);
    expect(yaml).toContain("import { listen } from 'dancer/listen'");
    expect(loadConfigText(yaml).config.service?.mode).toBe('port');
  });

  it('a service that takes the socket through dancer/listen stays in socket mode', () => {
    const plan = detectProject(
      facts({
        'package.json': JSON.stringify({ name: 'svc', scripts: { start: 'node index.mjs' } }),
        'index.mjs':
          "import { listen } from 'dancer/listen';\nconst s = http.createServer(h);\nawait listen(s);\nroutes['/healthz'] = ok;\n",
      }),
    );
    expect(plan.listen).toBe('socket');
    expect(plan.healthPath).toBe('/healthz');
    const config = loadConfigText(renderDancerYaml(plan)).config;
    expect(config.service?.mode).toBe('socket');
    expect(config.service?.readiness.http?.path).toBe('/healthz');
  });

  it('LISTEN_FDS read by hand also means socket mode', () => {
    const plan = detectProject(
      facts({ 'main.py': 'import os\nfd = int(os.environ["LISTEN_FDS"])\nif __name__ == "__main__":\n  run()\n' }),
    );
    expect(plan.kind).toBe('python');
    expect(plan.listen).toBe('socket');
  });

  it('a TypeScript service with a build step: start script verbatim, build, tests, source scanned for PORT', () => {
    const plan = detectProject(
      facts(
        {
          'package.json': JSON.stringify({
            name: 'ts-svc',
            type: 'module',
            scripts: { build: 'tsc', start: 'node dist/server.js', test: 'node --test dist/test/' },
          }),
          'src/server.ts':
            "import { createServer } from 'node:http';\nconst port = Number(process.env.PORT ?? 4100);\ncreateServer(handler).listen(port);\nif (url === '/health') {}\n",
        },
        ['tsconfig.json'],
      ),
    );
    expect(plan).toMatchObject({
      start: 'node dist/server.js',
      build: 'npm run build',
      test: 'npm test',
      listen: 'port',
      port: 4100,
      healthPath: '/health',
    });
    expect(plan.todo.join('\n')).toMatch(/dist\/server\.js does not exist yet: run `npm run build`/);
    const config = loadConfigText(renderDancerYaml(plan)).config;
    expect(config.service?.build).toBe('npm run build');
    expect(config.fixes.gate.steps.map((s) => s.run)).toEqual(['npm run build', 'npm test']);
  });

  it('a start script that needs node_modules/.bin runs through npm; the placeholder test is not a test', () => {
    const plan = detectProject(
      facts({
        'package.json': JSON.stringify({
          scripts: { start: 'tsx src/index.ts', test: 'echo "Error: no test specified" && exit 1' },
        }),
      }),
    );
    expect(plan.start).toBe('npm start --silent');
    expect(plan.test).toBeUndefined();
    expect(renderDancerYaml(plan)).toMatch(/no tests found/);
  });

  it('a Python worker: unbuffered, unittest discovered, no socket, ready when alive', () => {
    const plan = detectProject(
      facts(
        {
          'worker.py': 'import time\nif __name__ == "__main__":\n    main()\n',
          'helpers.py': 'def f(): pass\n',
          'test_worker.py': 'import unittest\n',
        },
        [],
        'py-jobs',
      ),
    );
    expect(plan).toMatchObject({
      kind: 'python',
      name: 'py-jobs',
      start: 'python3 worker.py',
      listen: 'none',
      env: { PYTHONUNBUFFERED: '1' },
      testFile: 'python3 -m unittest {file}',
    });
    expect(plan.test).toMatch(/unittest discover/);
    const config = loadConfigText(renderDancerYaml(plan)).config;
    expect(config.service?.listen).toEqual([]);
    expect(config.service?.env).toEqual({ PYTHONUNBUFFERED: '1' });
    expect(config.fixes.gate.regression.command).toBe('python3 -m unittest {file}');
    // The gate it writes names no source file: a named file becomes part of the gate definition
    // (protected, read from the base), and a fix to worker.py would be refused.
    const files = ['worker.py', 'helpers.py', 'test_worker.py'];
    expect(gateDefinitionFiles(files, gateCommands(config.fixes), {})).toEqual([]);
    expect(config.service?.build).toBe('python3 -m compileall -q .');
  });

  it('a Python HTTP service reading PORT with a default gets port mode on that port; pytest is preferred when used', () => {
    const plan = detectProject(
      facts({
        'app.py':
          'import os\nfrom http.server import HTTPServer\nport = int(os.environ.get("PORT", "5005"))\nHTTPServer(("127.0.0.1", port), H).serve_forever()\nif __name__ == "__main__": pass\n',
        'tests/test_app.py': 'import pytest\n',
      }),
    );
    expect(plan).toMatchObject({ start: 'python3 app.py', listen: 'port', port: 5005, test: 'python3 -m pytest -q' });
  });

  it('a fixed port without PORT is still port mode, with a note; no port at all falls back to 8080', () => {
    const fixed = detectProject(facts({ 'package.json': '{"main":"a.js"}', 'a.js': 'server.listen(7007, () => {})' }));
    expect(fixed).toMatchObject({ listen: 'port', port: 7007, readsPort: false });
    expect(renderDancerYaml(fixed)).toMatch(/does not read PORT/);
    const bare = detectProject(facts({ 'package.json': '{"main":"a.js"}', 'a.js': 'app.listen(process.env.PORT)' }));
    expect(bare.port).toBe(8080);
  });

  it('a Go module and a Procfile', () => {
    expect(
      detectProject(facts({ 'main.go': 'http.ListenAndServe(":"+os.Getenv("PORT"), nil)' }, ['go.mod'])),
    ).toMatchObject({
      kind: 'go',
      start: 'go run .',
      listen: 'port',
    });
    expect(detectProject(facts({ Procfile: 'web: bundle exec puma\n' }))).toMatchObject({
      kind: 'procfile',
      start: 'bundle exec puma',
    });
  });

  it('nothing recognisable: a starter with a to-do, still a valid config', () => {
    const plan = detectProject(facts({ 'README.md': '# hi' }));
    expect(plan.todo[0]).toMatch(/no start command found/);
    expect(loadConfigText(renderDancerYaml(plan)).config.service?.start).toBe('node server.js');
  });

  it('names and entries', () => {
    expect(serviceName('@scope/My_App!')).toBe('my-app');
    expect(serviceName('---')).toBe('app');
    expect(nodeEntryOf('NODE_ENV=production node --enable-source-maps dist/main.js')).toBe('dist/main.js');
    expect(nodeEntryOf('tsx src/x.ts')).toBeUndefined();
  });
});
