// The last line of a CI run: "N passed, N failed[, N skipped]" summed over vitest's JSON reports
// in DIR, or why there is none. Exit status: 1 when npm test passed but left no report (a green
// run must show its count), else 0 (the caller keeps npm test's own status).
// Usage: node .ci/summary.mjs DIR NPM_TEST_STATUS
import fs from 'node:fs';

const [dir = 'test-results', statusArg = '0'] = process.argv.slice(2);
const status = Number(statusArg);
const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
if (files.length === 0) {
  console.log(
    status === 0
      ? `no test report in ${dir}/ although npm test passed (is CI set, so that vitest writes one?)`
      : `no test report: npm test stopped before the tests (exit ${status})`,
  );
  process.exit(status === 0 ? 1 : 0);
}
let passed = 0;
let failed = 0;
let skipped = 0;
for (const f of files) {
  const r = JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
