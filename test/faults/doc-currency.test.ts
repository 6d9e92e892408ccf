/** docs/reliability.md's fault table is the one rendered from test/faults/results.json, whose rows are the scenario list. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIX_STATES, isTerminal } from '../../src/fixes/state.js';
import { docSection, KILL_STATES, RELIABILITY_MD, renderFaultTable, SCENARIOS, storedResults } from './table.js';

describe('the fault table in docs/reliability.md', () => {
  it('equals the table rendered from the suite results', () => {
    expect(docSection(readFileSync(RELIABILITY_MD, 'utf8'))).toBe(renderFaultTable(storedResults()));
  });

  it('has one row per scenario, in the scenario order', () => {
    expect(storedResults().map((r) => r.id)).toEqual(SCENARIOS.map((s) => s.id));
  });

  it('kills the supervisor in every state a fix can be in while Dancer works on it', () => {
    expect([...KILL_STATES]).toEqual(FIX_STATES.filter((s) => !isTerminal(s)));
  });
});
