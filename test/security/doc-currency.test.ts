/** docs/security.md's attack table is the one rendered from test/security/attacks.json, and 0 succeeded. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docSection, renderAttackTable, SECURITY_MD, storedAttacks } from './attacks.js';

describe('the attack table in docs/security.md', () => {
  it('equals the table rendered from the suite results', () => {
    const section = docSection(readFileSync(SECURITY_MD, 'utf8'));
    expect(section).toBe(renderAttackTable(storedAttacks()));
  });

  it('records every attack class of the measurement, each blocked', () => {
    const stored = storedAttacks();
    expect(stored.filter((r) => !r.blocked)).toEqual([]);
    const classes = new Set(stored.map((r) => r.class));
    for (const c of [
      'runs as root',
      "Dancer's secrets",
      'network',
      'writes outside the worktree',
      "writes to the repository's .git",
      'processes left behind',
      'control',
      'resource limits',
      'emergency stop',
    ]) {
      expect(classes.has(c), c).toBe(true);
    }
  });
});
