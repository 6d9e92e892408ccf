/**
 * What the consultation reads of the stages above it: earlier fixes (the fixes stage's queries)
 * and metrics (the supervisor's), handed to the brief and the store tools. Consult may not import
 * those stages (they import it), so the composition root wires them; the CLI uses the same.
 */
import type { ConsultReads } from '../consult/index.js';
import { fixHistoryRows, storedFixRow, storedFixRows } from '../fixes/index.js';
import { metricBuckets, metricSummaries } from '../supervise/index.js';

/** The reads a consultation gets: the fixes stage's and the supervisor's exported queries. */
export function consultReads(): ConsultReads {
  return {
    fixRows: storedFixRows,
    fixRow: storedFixRow,
    fixHistory: fixHistoryRows,
    metricSummaries,
    metricBuckets,
  };
}
