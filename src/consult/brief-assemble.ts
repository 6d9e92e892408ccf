/**
 * Brief assembly (pure): sections in priority order fill the token budget; a section that does
 * not fit is cut at a chunk boundary (a fenced section keeps its closing fence) or left out with
 * a note naming the tool that reaches the rest.
 */
import { estimateTokens } from './tokens.js';

/** One section of the brief. */
export interface BriefSection {
  /** Stable id: header, pattern, timeline, samples, requests, frames, source, attempts, metrics, policy, tools. */
  id: string;
  title: string;
  /** Text before the chunks (trusted: written by Dancer). */
  intro?: string | undefined;
  /** Atomic units: lines, records, code excerpts. Dropped from the end when the budget is short. */
  chunks: string[];
  /** Fence lines around the chunks when they are untrusted data. */
  fence?: { open: string; close: string } | undefined;
  /** Shown when chunks were dropped: how to get the rest (a tool call). */
  moreHint?: string | undefined;
  /** Always included, before optional sections take the budget. */
  required?: boolean | undefined;
  /** Lower = more useful = budgeted first. */
  priority: number;
  /** Position in the rendered brief (default: priority). */
  order?: number | undefined;
}

/** What happened to each section. */
export interface SectionReport {
  id: string;
  title: string;
  tokens: number;
  status: 'included' | 'truncated' | 'omitted' | 'empty';
  chunks: number;
  chunksTotal: number;
}

/** The assembled text and the per-section report. */
export interface AssembledBrief {
  text: string;
  tokens: number;
  sections: SectionReport[];
}

function render(section: BriefSection, chunks: string[], dropped: number): string {
  const parts: string[] = [`## ${section.title}`];
  if (section.intro) parts.push(section.intro);
  if (chunks.length > 0) {
    if (section.fence) parts.push([section.fence.open, ...chunks, section.fence.close].join('\n'));
    else parts.push(chunks.join('\n'));
  }
  if (dropped > 0)
    parts.push(`(${dropped} more left out to fit the budget${section.moreHint ? `; ${section.moreHint}` : ''})`);
  return `${parts.join('\n')}\n`;
}

/** Smallest useful remainder: below this, an optional section is left out rather than cut. */
const MIN_SECTION_TOKENS = 60;

/**
 * Fit `sections` into `maxTokens` (estimated). Required sections go in first (cut if they alone
 * exceed the budget); optional ones follow by priority.
 */
export function assembleBrief(sections: readonly BriefSection[], maxTokens: number): AssembledBrief {
  const byPriority = [...sections].sort(
    (a, b) => Number(Boolean(b.required)) - Number(Boolean(a.required)) || a.priority - b.priority,
  );
  const rendered = new Map<string, { text: string; report: SectionReport }>();
  // Sections are joined by one blank line: 1 byte each, counted up front.
  let used = Math.ceil(sections.length / 4);
  for (const section of byPriority) {
    const total = section.chunks.length;
    const base: SectionReport = {
      id: section.id,
      title: section.title,
      tokens: 0,
      status: 'included',
      chunks: 0,
      chunksTotal: total,
    };
    if (total === 0 && !section.intro) {
      rendered.set(section.id, { text: '', report: { ...base, status: 'empty' } });
      continue;
    }
    const full = render(section, section.chunks, 0);
    const fullTokens = estimateTokens(full);
    if (used + fullTokens <= maxTokens) {
      used += fullTokens;
      rendered.set(section.id, { text: full, report: { ...base, tokens: fullTokens, chunks: total } });
      continue;
    }
    const left = maxTokens - used;
    if (!section.required && left < MIN_SECTION_TOKENS) {
      rendered.set(section.id, { text: '', report: { ...base, status: 'omitted' } });
      continue;
    }
    // Keep the longest prefix of chunks that fits (binary search over the count).
    let lo = 0;
    let hi = total;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (estimateTokens(render(section, section.chunks.slice(0, mid), total - mid)) <= left) lo = mid;
      else hi = mid - 1;
    }
    const text = render(section, section.chunks.slice(0, lo), total - lo);
    const tokens = estimateTokens(text);
    if (!section.required && (lo === 0 || tokens > left)) {
      rendered.set(section.id, { text: '', report: { ...base, status: 'omitted' } });
      continue;
    }
    used += tokens;
    rendered.set(section.id, { text, report: { ...base, tokens, chunks: lo, status: 'truncated' } });
  }
  const inOrder = [...sections].sort((a, b) => (a.order ?? a.priority) - (b.order ?? b.priority));
  const texts = inOrder.map((s) => rendered.get(s.id)?.text ?? '').filter((t) => t !== '');
  const text = texts.join('\n');
  return {
    text,
    tokens: estimateTokens(text),
    sections: inOrder.map((s) => rendered.get(s.id)?.report).filter((r): r is SectionReport => r !== undefined),
  };
}
