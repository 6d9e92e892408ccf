/**
 * Commit and merge messages: a human-readable changelog entry plus git trailers that tie the
 * commit to Dancer's records. Pure; `git interpret-trailers --parse` reads the trailers back.
 */

/** The trailers every fix commit and merge carries. */
export interface FixTrailers {
  fixId: number;
  patternId: string;
  consultationId?: string | undefined;
  costUsd?: number | undefined;
  /** Set on rollback commits: the fix that was rolled back. */
  rollbackOf?: number | undefined;
}

/** The changelog entry a commit message carries. */
export interface ChangelogEntry {
  /** One line, imperative, at most ~72 characters. */
  title: string;
  /** What was wrong. */
  problem?: string | undefined;
  /** What changed. */
  change?: string | undefined;
  /** How it was tested. */
  testing?: string | undefined;
}

/** Trailer keys, as written. */
export const TRAILER_KEYS = {
  fixId: 'Dancer-Fix',
  patternId: 'Dancer-Pattern',
  consultationId: 'Dancer-Consultation',
  costUsd: 'Dancer-Cost-USD',
  rollbackOf: 'Dancer-Rollback-Of',
} as const;

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function wrapParagraph(text: string, width = 72): string {
  return text
    .split(/\n{2,}/)
    .map((para) => {
      const words = para.replace(/\s+/g, ' ').trim().split(' ');
      const lines: string[] = [];
      let cur = '';
      for (const w of words) {
        if (cur && cur.length + 1 + w.length > width) {
          lines.push(cur);
          cur = w;
        } else cur = cur ? `${cur} ${w}` : w;
      }
      if (cur) lines.push(cur);
      return lines.join('\n');
    })
    .join('\n\n');
}

/** Format a money amount for a trailer: always 4 decimals, e.g. `0.1234`. */
export function formatCost(usd: number | undefined): string {
  return (usd ?? 0).toFixed(4);
}

/** The trailer lines for `t`, in a fixed order. */
export function trailerLines(t: FixTrailers): string[] {
  const lines = [`${TRAILER_KEYS.fixId}: ${t.fixId}`, `${TRAILER_KEYS.patternId}: ${oneLine(t.patternId)}`];
  if (t.consultationId !== undefined && t.consultationId !== '') {
    lines.push(`${TRAILER_KEYS.consultationId}: ${oneLine(t.consultationId)}`);
  }
  lines.push(`${TRAILER_KEYS.costUsd}: ${formatCost(t.costUsd)}`);
  if (t.rollbackOf !== undefined) lines.push(`${TRAILER_KEYS.rollbackOf}: ${t.rollbackOf}`);
  return lines;
}

/**
 * A full commit message: title, blank line, the sections that are present, blank line, trailers.
 * Trailer-looking lines inside the body are indented so that git does not read them as trailers.
 */
export function formatCommitMessage(entry: ChangelogEntry, trailers: FixTrailers): string {
  const title = oneLine(entry.title).slice(0, 100) || `Dancer fix ${trailers.fixId}`;
  const sections: string[] = [];
  const add = (heading: string, text: string | undefined) => {
    if (text?.trim()) sections.push(`${heading}:\n${defuseTrailers(wrapParagraph(text))}`);
  };
  add('What was wrong', entry.problem);
  add('What changed', entry.change);
  add('How it was tested', entry.testing);
  const body = sections.length > 0 ? `\n\n${sections.join('\n\n')}` : '';
  return `${title}${body}\n\n${trailerLines(trailers).join('\n')}\n`;
}

function defuseTrailers(text: string): string {
  return text.replace(/^([A-Za-z0-9-]+):(?=\s)/gm, (m) => `  ${m}`);
}

/** Parse the trailers of a message as `git interpret-trailers --parse` prints them (`Key: value` lines). */
export function parseTrailerLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) out.set((m[1] as string).toLowerCase(), (m[2] as string).trim());
  }
  return out;
}

/** Read Dancer's trailers from parsed trailer lines; undefined when `Dancer-Fix` is missing. */
export function fixTrailersFrom(trailers: Map<string, string>): FixTrailers | undefined {
  const get = (k: string) => trailers.get(k.toLowerCase());
  const id = Number(get(TRAILER_KEYS.fixId));
  if (!Number.isInteger(id) || id <= 0) return undefined;
  const cost = get(TRAILER_KEYS.costUsd);
  const rollbackOf = get(TRAILER_KEYS.rollbackOf);
  return {
    fixId: id,
    patternId: get(TRAILER_KEYS.patternId) ?? '',
    consultationId: get(TRAILER_KEYS.consultationId),
    costUsd: cost === undefined ? undefined : Number(cost),
    rollbackOf: rollbackOf === undefined ? undefined : Number(rollbackOf),
  };
}
