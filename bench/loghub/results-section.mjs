// Replace (or append) one `## ` section of bench/RESULTS.md, keeping every other section.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * @param {string} file  path of RESULTS.md
 * @param {string} heading  the section's heading line, e.g. '## Template miner: Loghub-2k quality'
 * @param {string} body  the section's text after the heading
 */
export function writeSection(file, heading, body) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  const section = [heading, '', ...body.trimEnd().split('\n'), ''];
  if (start < 0) {
    const out = text.endsWith('\n') ? text : `${text}\n`;
    writeFileSync(file, `${out}\n${section.join('\n')}`);
    return;
  }
  let end = start + 1;
  while (end < lines.length && !lines[end].startsWith('## ')) end++;
  lines.splice(start, end - start, ...section);
  writeFileSync(file, lines.join('\n'));
}
