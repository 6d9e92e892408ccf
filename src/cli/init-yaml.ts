import { stringify } from 'yaml';
import type { ProjectPlan } from './init-detect.js';

/** A YAML scalar as it would appear in a flow or block value (quoted only when it must be). */
function scalar(value: string | number): string {
  if (typeof value === 'number') return String(value);
  // Plain when safe in both block and flow context; else a JSON string (valid YAML too).
  return /^[\w./@+=-][\w./@+= -]*$/.test(value) && !/\s$/.test(value) && stringify(value).trimEnd() === value
    ? value
    : JSON.stringify(value);
}

/** The comment that tells a port-mode service the one-line change that buys zero-downtime deploys. */
export function zeroDowntimeHint(plan: ProjectPlan): string[] {
  if (plan.kind === 'node') {
    return [
      '# mode: port: the service binds PORT itself, as it does today, and Dancer sets PORT. A restart or',
      '# deploy stops the old worker before the new one listens (a short gap). For zero-downtime',
      '# deploys, change one line of the service and set `mode: socket`:',
      "#   server.listen(process.env.PORT)  ->  listen(server)   with   import { listen } from 'dancer/listen'",
      '# (dancer/listen takes the socket Dancer holds and drains on SIGTERM; see docs/supervisor.md).',
    ];
  }
  return [
    '# mode: port: the service binds PORT itself, as it does today, and Dancer sets PORT. A restart or',
    '# deploy stops the old worker before the new one listens (a short gap). For zero-downtime',
    '# deploys, take the listening socket Dancer passes as fd 3 (LISTEN_FDS=1, systemd style)',
    '# instead of binding PORT, and set `mode: socket` (docs/supervisor.md shows how).',
  ];
}

/** Render the dancer.yaml `dancer init` writes for `plan`, with comments a human can act on. */
export function renderDancerYaml(plan: ProjectPlan): string {
  const lines: string[] = ['# dancer.yaml written by `dancer init` (every key: docs/configuration.md).'];
  for (const f of plan.findings) lines.push(`#   found: ${f}`);
  for (const t of plan.todo) lines.push(`#   to do: ${t}`);
  lines.push('service:', `  name: ${scalar(plan.name)}`, `  start: ${scalar(plan.start)}`, '  cwd: .');
  if (plan.build) lines.push(`  build: ${scalar(plan.build)}   # builds a release on \`dancer deploy\``);
  const env = Object.entries(plan.env);
  if (env.length > 0) lines.push(`  env: { ${env.map(([k, v]) => `${k}: ${scalar(v)}`).join(', ')} }`);
  if (plan.listen === 'port') {
    for (const c of zeroDowntimeHint(plan)) lines.push(`  ${c}`);
    lines.push('  mode: port');
    if (!plan.readsPort) lines.push('  # the code listens on a fixed port (it does not read PORT)');
    lines.push(`  listen: [{ name: http, port: ${plan.port}, host: 127.0.0.1 }]   # Dancer sets PORT=${plan.port}`);
  } else if (plan.listen === 'socket') {
    lines.push('  # mode: socket: Dancer holds the port and hands it to each new worker (zero-downtime deploys).');
    lines.push('  mode: socket');
    lines.push(`  listen: [{ name: http, port: ${plan.port}, host: 127.0.0.1 }]`);
  } else {
    lines.push('  # no listening socket found: ready once the worker has stayed up for readiness.graceMs.');
  }
  if (plan.healthPath && plan.listen !== 'none') {
    lines.push(`  readiness: { http: { path: ${scalar(plan.healthPath)} }, timeoutSeconds: 10 }`);
  } else {
    lines.push('  readiness: { timeoutSeconds: 10 }');
  }
  lines.push('store: { path: .dancer/dancer.db }');
  lines.push('fixes:', '  gate:', '    steps:');
  if (plan.build) lines.push(`      - { name: build, run: ${scalar(plan.build)} }`);
  if (plan.test) lines.push(`      - { name: test, run: ${scalar(plan.test)} }`);
  else lines.push('      # no tests found: add a test step so the gate can judge a fix');
  if (!plan.build && !plan.test) lines.push('      []');
  if (plan.testFile) lines.push(`    regression: { command: ${scalar(plan.testFile)} }`);
  if (plan.report?.command) {
    lines.push(`    # ${plan.report.note}`);
    lines.push(`    report: { command: ${scalar(plan.report.command)}, format: ${plan.report.format} }`);
  } else if (plan.report) {
    lines.push(`    # ${plan.report.note}`);
  }
  return `${lines.join('\n')}\n`;
}
