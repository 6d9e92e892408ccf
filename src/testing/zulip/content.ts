/**
 * Message content as Zulip reads it: lengths in Unicode code points, @-mentions and wildcard
 * mentions, and the minimal HTML rendering for `apply_markdown=true`.
 */
import type { ZulipTestUser } from './types.js';

/** Count Unicode code points, as Zulip does. */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The first `end` code points of `s`. */
export function sliceCodePoints(s: string, end: number): string {
  return [...s].slice(0, end).join('');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Minimal Markdown rendering for queues registered with `apply_markdown=true`. */
export function renderHtml(content: string): string {
  return content
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>\n')}</p>`)
    .join('\n');
}

/** Does `content` @-mention `user` (not silently)? Zulip: `@**Name**`, `@**Name|id**`, `@**|id**`. */
export function mentions(content: string, user: ZulipTestUser): boolean {
  const re = /(?:^|[\s"'({[/<])@\*\*([^*|]*)(?:\|(\d+))?\*\*/g;
  for (const match of content.matchAll(re)) {
    const name = (match[1] ?? '').trim();
    const id = match[2];
    if (id !== undefined) {
      if (Number(id) === user.user_id) return true;
    } else if (name.toLowerCase() === user.full_name.toLowerCase()) {
      return true;
    }
  }
  return false;
}

/** The wildcard-mention flags a channel message gives its recipients (none for direct messages). */
export function wildcardFlags(content: string, type: 'stream' | 'private'): string[] {
  if (type !== 'stream') return [];
  const flags: string[] = [];
  const re = /(?:^|[\s"'({[/<])@\*\*(all|everyone|channel|stream|topic)\*\*/g;
  for (const match of content.matchAll(re)) {
    const flag = match[1] === 'topic' ? 'topic_wildcard_mentioned' : 'stream_wildcard_mentioned';
    if (!flags.includes(flag)) flags.push(flag);
  }
  if (flags.length > 0) flags.push('wildcard_mentioned');
  return flags;
}
