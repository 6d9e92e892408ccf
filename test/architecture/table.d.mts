import type { Architecture } from './scan.js';

/** The markdown table for an architecture declaration. */
export function arrowsTable(arch: Architecture): string;
/** The doc's block between the markers: groups are start marker, table, end marker. */
export const BLOCK: RegExp;
