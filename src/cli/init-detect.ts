/**
 * What `dancer init` learns from a project, as a pure function of what the project holds (file
 * names and the text of a few files), so it is tested without a disk.
 */
import { goReportPlan, nodeReportPlan, pythonReportPlan, type ReportPlan } from './init-report.js';

/** What {@link detectProject} reads: file paths relative to the project root, and some texts. */
export interface ProjectFacts {
  /** Folder name of the project (fallback for the service name). */
  dirName: string;
  /** Relative paths of the files found (sources, manifests), forward slashes. */
  files: readonly string[];
  /** Text of the files the scanner read (package.json, entry points, sources), by relative path. */
  texts: Readonly<Record<string, string>>;
}

/** The language a project was recognised as. */
export type ProjectKind = 'node' | 'python' | 'go' | 'procfile' | 'unknown';

/** How the service listens, as far as its code says. */
export type ListenStyle =
  /** It takes the supervisor's socket (`dancer/listen` or `LISTEN_FDS`): zero-downtime deploys. */
  | 'socket'
  /** It binds a port itself (reading PORT or a fixed number). */
  | 'port'
  /** No sign of a listening socket: a worker. */
  | 'none';

/** The service `dancer init` proposes. */
export interface ProjectPlan {
  kind: ProjectKind;
  name: string;
  /** `service.start`. */
  start: string;
  /** `service.build`, when the project has a build step. */
  build?: string;
  /** Test command for the fix gate, when the project has tests. */
  test?: string;
  /** Command template that runs one test file (`fixes.gate.regression.testCommand`). */
  testFile?: string;
  /** `fixes.gate.report` for the project's test runner (or why there is none). */
  report?: ReportPlan;
  listen: ListenStyle;
  /** The port used (port and socket styles). */
  port?: number;
  /** True when the code reads PORT (so the supervisor's PORT decides the port). */
  readsPort: boolean;
  /** Readiness path found in the code (e.g. /healthz), else undefined (a TCP probe is used). */
  healthPath?: string;
  /** The file the service starts from, when known. */
  entry?: string;
  /** Environment for the worker (e.g. PYTHONUNBUFFERED). */
  env: Record<string, string>;
  /** What was found and why, one line each, for a human. */
  findings: string[];
  /** Things to do before `dancer run` (e.g. build first). */
  todo: string[];
}

/** Port used when the code reads PORT without a visible default, or nothing else is known. */
export const DEFAULT_PORT = 8080;

const SOURCE_EXT = /\.(?:[cm]?js|[cm]?ts|jsx|tsx|py|go)$/;

interface PackageJson {
  name?: unknown;
  main?: unknown;
  type?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

function parsePackageJson(text: string | undefined): PackageJson | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? (value as PackageJson) : undefined;
  } catch {
    return undefined;
  }
}

/** A service name dancer.yaml accepts and paths can hold: lower case, [a-z0-9-]. */
export function serviceName(raw: string): string {
  const base = raw.replace(/^@[^/]+\//, '');
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return name || 'app';
}

function script(pkg: PackageJson | undefined, name: string): string | undefined {
  const value = pkg?.scripts?.[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** True when npm's placeholder test script is all there is. */
function isPlaceholderTest(command: string): boolean {
  return /no test specified/.test(command);
}

/**
 * The file a `node ...` command runs (`node dist/server.js`, `node --enable-source-maps x.js`),
 * or undefined when the command is not a plain node invocation.
 */
export function nodeEntryOf(command: string): string | undefined {
  const words = command
    .replace(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+/, '')
    .split(/\s+/)
    .filter(Boolean);
  if (words[0] !== 'node') return undefined;
  return words.slice(1).find((w) => !w.startsWith('-'));
}

/** True when `command` can run from /bin/sh without npm's PATH (node_modules/.bin). */
function runsWithoutNpm(command: string): boolean {
  const first = command.replace(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+/, '').split(/\s+/)[0] ?? '';
  return first === 'node' || first.startsWith('./') || first.startsWith('/');
}

/** The source file of a compiled entry (dist/server.js -> src/server.ts), when the project has it. */
function sourceOf(entry: string, files: ReadonlySet<string>): string | undefined {
  const stem = entry.replace(/\.[cm]?js$/, '');
  const candidates = [
    `${stem}.ts`,
    stem.replace(/^(?:dist|build|out|lib)\//, 'src/') + '.ts',
    stem.replace(/^(?:dist|build|out|lib)\//, '') + '.ts',
    stem.replace(/^(?:dist|build|out|lib)\/src\//, 'src/') + '.ts',
  ];
  return candidates.find((c) => files.has(c));
}

interface ListenFacts {
  style: ListenStyle;
  readsPort: boolean;
  port?: number;
  healthPath?: string;
  where?: string;
}

/** How the code listens, from its sources (entry first; the first file that says anything wins per fact). */
export function detectListen(texts: Readonly<Record<string, string>>, order: readonly string[]): ListenFacts {
  let socket: string | undefined;
  let readsPort: string | undefined;
  let listens: string | undefined;
  let port: number | undefined;
  let healthPath: string | undefined;
  for (const file of order) {
    const text = texts[file];
    if (text === undefined) continue;
    if (!socket && (/['"]dancer\/listen['"]/.test(text) || /\bLISTEN_FDS\b/.test(text))) socket = file;
    const envPort =
      /process\.env\.PORT\b|process\.env\[['"]PORT['"]\]|environ(?:\.get)?\s*[[(]\s*['"]PORT['"]|getenv\(\s*['"]PORT['"]|Getenv\("PORT"\)/;
    if (!readsPort && envPort.test(text)) {
      readsPort = file;
      const fallback =
        /(?:PORT\b[^\n]{0,40}?(?:\|\||\?\?|,|\bor\b)\s*['"]?(\d{2,5})\b)|(?:PORT['"]\s*,\s*['"]?(\d{2,5}))/.exec(text);
      const n = Number(fallback?.[1] ?? fallback?.[2]);
      if (port === undefined && Number.isInteger(n) && n > 0 && n < 65536) port = n;
    }
    if (
      !listens &&
      /\.listen\s*\(|createServer\s*\(|HTTPServer\s*\(|TCPServer\s*\(|ListenAndServe|uvicorn\.run|app\.run\(/.test(text)
    ) {
      listens = file;
      const fixed =
        /\.listen\s*\(\s*(\d{2,5})\b/.exec(text) ?? /\(\s*\(\s*['"][^'"]*['"]\s*,\s*(\d{2,5})\s*\)/.exec(text);
      const n = Number(fixed?.[1]);
      if (port === undefined && Number.isInteger(n) && n > 0 && n < 65536) port = n;
    }
    if (!healthPath) {
      const m = /['"](\/(?:healthz|health|readyz|ready|livez|ping|status))['"]/.exec(text);
      if (m) healthPath = m[1];
    }
  }
  if (socket) return { style: 'socket', readsPort: !!readsPort, port, healthPath, where: socket };
  if (readsPort || listens) {
    return { style: 'port', readsPort: !!readsPort, port, healthPath, where: readsPort ?? listens };
  }
  return { style: 'none', readsPort: false, healthPath: undefined };
}

function pythonEntry(files: readonly string[], texts: Readonly<Record<string, string>>): string | undefined {
  const top = files.filter((f) => !f.includes('/') && f.endsWith('.py') && !/^test_|_test\.py$|^setup\.py$/.test(f));
  const preferred = ['main.py', 'app.py', 'server.py', 'worker.py', 'run.py', 'service.py'];
  const withMain = top.filter((f) => /__name__\s*==\s*['"]__main__['"]/.test(texts[f] ?? ''));
  return (
    preferred.find((p) => withMain.includes(p)) ??
    withMain[0] ??
    preferred.find((p) => top.includes(p)) ??
    (top.length === 1 ? top[0] : undefined)
  );
}

function pythonTests(files: readonly string[], texts: Readonly<Record<string, string>>): string | undefined {
  const tests = files.filter((f) => /(?:^|\/)(?:test_[^/]*|[^/]*_test)\.py$/.test(f));
  if (tests.length === 0) return undefined;
  const usesPytest =
    files.includes('pytest.ini') ||
    /\[tool\.pytest/.test(texts['pyproject.toml'] ?? '') ||
    tests.some((f) => /^\s*import pytest|^\s*from pytest/m.test(texts[f] ?? ''));
  return usesPytest ? 'python3 -m pytest -q' : 'python3 -m unittest discover -p "test*.py"';
}

/**
 * Decide the service `dancer init` writes for a project: how it starts, builds and is tested,
 * and how it listens (`socket` only when the code takes the supervisor's socket).
 */
export function detectProject(facts: ProjectFacts): ProjectPlan {
  const files = new Set(facts.files);
  const findings: string[] = [];
  const todo: string[] = [];
  const env: Record<string, string> = {};
  const pkg = parsePackageJson(facts.texts['package.json']);
  let kind: ProjectKind = 'unknown';
  let name = serviceName(facts.dirName);
  let start: string | undefined;
  let build: string | undefined;
  let test: string | undefined;
  let testFile: string | undefined;
  let report: ReportPlan | undefined;
  let entry: string | undefined;

  const procfile = facts.texts.Procfile;
  const procWeb = procfile ? /^(?:web|worker):\s*(.+)$/m.exec(procfile)?.[1]?.trim() : undefined;

  if (pkg) {
    kind = 'node';
    if (typeof pkg.name === 'string' && pkg.name) name = serviceName(pkg.name);
    const startScript = script(pkg, 'start');
    const main = typeof pkg.main === 'string' ? pkg.main.replace(/^\.\//, '') : undefined;
    if (startScript) {
      start = runsWithoutNpm(startScript) ? startScript : 'npm start --silent';
      entry = nodeEntryOf(startScript);
      findings.push(`package.json scripts.start: ${startScript}`);
    } else if (main) {
      start = `node ${main}`;
      entry = main;
      findings.push(`package.json main: ${main}`);
    } else {
      entry = ['server.js', 'index.js', 'app.js', 'main.js', 'server.mjs', 'index.mjs'].find((f) => files.has(f));
      if (entry) {
        start = `node ${entry}`;
        findings.push(`no start script or main; found ${entry}`);
      }
    }
    const buildScript = script(pkg, 'build');
    if (buildScript) {
      build = 'npm run build';
      findings.push(`package.json scripts.build: ${buildScript}`);
    }
    const testScript = script(pkg, 'test');
    if (testScript && !isPlaceholderTest(testScript)) {
      test = 'npm test';
      findings.push(`package.json scripts.test: ${testScript}`);
      report = nodeReportPlan({
        testScript,
        dependencies: [...Object.keys(pkg?.dependencies ?? {}), ...Object.keys(pkg?.devDependencies ?? {})],
      });
      if (report) findings.push(report.note);
    }
    if (entry && !files.has(entry)) {
      todo.push(
        build
          ? `${entry} does not exist yet: run \`npm run build\` before \`dancer run\``
          : `${entry} does not exist: check the start command`,
      );
    }
  } else {
    const py = pythonEntry(facts.files, facts.texts);
    if (py) {
      kind = 'python';
      entry = py;
      start = `python3 ${py}`;
      env.PYTHONUNBUFFERED = '1';
      findings.push(`Python entry point: ${py} (PYTHONUNBUFFERED=1 so its lines arrive as they are written)`);
      test = pythonTests(facts.files, facts.texts);
      if (test) {
        findings.push(`Python tests found: ${test}`);
        testFile = test.startsWith('python3 -m pytest') ? 'python3 -m pytest -q {file}' : 'python3 -m unittest {file}';
        report = pythonReportPlan(test);
        (report.command ? findings : todo).push(report.note);
      }
      // compileall on the folder, not `py_compile ${py}`: a gate step that names a file makes it part of
      // the gate definition (protected, read from the base commit), and fixes must be able to change it.
      build = 'python3 -m compileall -q .';
    } else if (files.has('go.mod')) {
      kind = 'go';
      start = 'go run .';
      build = 'go build ./...';
      test = 'go test ./...';
      findings.push('go.mod: a Go module (go run .)');
      report = goReportPlan();
      findings.push(report.note);
    }
  }
  if (!start && procWeb) {
    kind = kind === 'unknown' ? 'procfile' : kind;
    start = procWeb;
    findings.push(`Procfile: ${procWeb}`);
  }
  if (!start) {
    start = 'node server.js';
    todo.push('no start command found: set service.start in dancer.yaml');
  }

  // Which sources say how the service listens: the entry (or its TypeScript source) first.
  const order: string[] = [];
  const add = (f: string | undefined) => {
    if (f && facts.texts[f] !== undefined && !order.includes(f)) order.push(f);
  };
  add(entry);
  if (entry) add(sourceOf(entry, files));
  for (const f of facts.files) if (SOURCE_EXT.test(f)) add(f);
  const listen = detectListen(facts.texts, order);
  if (listen.style === 'socket') {
    findings.push(`${listen.where} takes the supervisor's socket (dancer/listen or LISTEN_FDS): socket mode`);
  } else if (listen.style === 'port') {
    findings.push(
      listen.readsPort
        ? `${listen.where} listens on PORT: port mode with PORT set by Dancer`
        : `${listen.where} listens on a fixed port: port mode`,
    );
  } else {
    findings.push('no listening socket found: a worker (ready once it stays up)');
  }
  const port = listen.style === 'none' ? undefined : (listen.port ?? DEFAULT_PORT);
  if (listen.healthPath && listen.style !== 'none') findings.push(`readiness probe: GET ${listen.healthPath}`);

  return {
    kind,
    name,
    start,
    ...(build ? { build } : {}),
    ...(test ? { test } : {}),
    ...(testFile ? { testFile } : {}),
    ...(report ? { report } : {}),
    listen: listen.style,
    ...(port !== undefined ? { port } : {}),
    readsPort: listen.readsPort,
    ...(listen.healthPath && listen.style !== 'none' ? { healthPath: listen.healthPath } : {}),
    ...(entry ? { entry } : {}),
    env,
    findings,
    todo,
  };
}
