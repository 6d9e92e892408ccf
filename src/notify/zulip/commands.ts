/**
 * Bot commands: parsing, addressing, the allow-list and reactions. Pure: plain data in, plain
 * data out.
 */

/** A parsed command. */
export type BotCommand =
  | { name: 'help' }
  | { name: 'status' }
  | { name: 'patterns' }
  | { name: 'fixes' }
  | { name: 'budget' }
  | { name: 'show'; id: number }
  | { name: 'approve'; id: number }
  | { name: 'reject'; id: number; reason: string }
  | { name: 'rollback'; id?: number }
  | { name: 'retry'; pattern: string }
  | { name: 'stop'; reason?: string }
  | { name: 'resume' };

/** Every command name, in the order `help` lists them. */
export const COMMAND_NAMES = [
  'help',
  'status',
  'patterns',
  'fixes',
  'show',
  'approve',
  'reject',
  'rollback',
  'retry',
  'stop',
  'resume',
  'budget',
] as const;

/** Usage line per command, for `help` and for errors. */
export const COMMAND_USAGE: Readonly<Record<BotCommand['name'], string>> = {
  help: 'help: this list',
  status: 'status: supervisor, service, emergency stop, what is running',
  patterns: 'patterns: the top error patterns',
  fixes: 'fixes: recent fixes and their states',
  show: 'show ID: one fix in detail',
  approve: 'approve ID: approve a proposed fix for deploy',
  reject: 'reject ID REASON: reject a proposed fix',
  rollback: 'rollback [ID]: roll back a fix (default: the current release)',
  retry: 'retry PATTERN: reopen a pattern escalated after too many fix attempts',
  stop: 'stop [REASON]: emergency stop (abort consultations, halt the pipeline, make deploys safe)',
  resume: 'resume: lift the emergency stop',
  budget: 'budget: spend on Claude today and the limits',
};

/** The outcome of parsing. */
export type ParseResult = { ok: true; command: BotCommand } | { ok: false; error: string };

/** Remove a leading `@**Name**`, `@**Name|42**`, `@_**Name**` mention (and any `/` or `!`). */
export function stripMention(text: string): string {
  return text
    .trim()
    .replace(/^(?:@_?\*\*[^*]*\*\*[\s,:]*)+/, '')
    .replace(/^[/!]/, '')
    .trim();
}

function parseId(token: string | undefined): number | undefined {
  if (token === undefined) return undefined;
  const m = /^#?(\d{1,12})$/.exec(token);
  return m ? Number(m[1]) : undefined;
}

/**
 * Parse a message text as a command. `context.fixId` (the fix whose topic the message is in)
 * stands in for a missing ID in `show`, `approve`, `reject` and `rollback`.
 */
export function parseCommand(text: string, context: { fixId?: number } = {}): ParseResult {
  const body = stripMention(text);
  if (body === '') return { ok: true, command: { name: 'help' } };
  const [first = '', ...rest] = body.split(/\s+/);
  const name = first.toLowerCase();
  const needId = (command: 'show' | 'approve'): ParseResult => {
    const id = parseId(rest[0]) ?? (rest.length === 0 ? context.fixId : undefined);
    if (id === undefined) return { ok: false, error: `Usage: ${COMMAND_USAGE[command]}` };
    return { ok: true, command: { name: command, id } };
  };
  switch (name) {
    case 'help':
    case 'status':
    case 'patterns':
    case 'fixes':
    case 'budget':
    case 'resume':
      return { ok: true, command: { name } };
    case 'show':
      return needId('show');
    case 'approve':
      return needId('approve');
    case 'reject': {
      let id = parseId(rest[0]);
      let words = rest.slice(1);
      if (id === undefined && context.fixId !== undefined) {
        id = context.fixId;
        words = rest;
      }
      if (id === undefined) return { ok: false, error: `Usage: ${COMMAND_USAGE.reject}` };
      const reason = words.join(' ').trim();
      if (reason === '') return { ok: false, error: `A rejection needs a reason. Usage: ${COMMAND_USAGE.reject}` };
      return { ok: true, command: { name: 'reject', id, reason } };
    }
    case 'rollback': {
      if (rest.length === 0) {
        return {
          ok: true,
          command: context.fixId === undefined ? { name: 'rollback' } : { name: 'rollback', id: context.fixId },
        };
      }
      const id = parseId(rest[0]);
      if (id === undefined) return { ok: false, error: `Usage: ${COMMAND_USAGE.rollback}` };
      return { ok: true, command: { name: 'rollback', id } };
    }
    case 'retry': {
      const pattern = /^#?([A-Za-z0-9_-]{1,64})$/.exec(rest[0] ?? '')?.[1];
      if (pattern === undefined) return { ok: false, error: `Usage: ${COMMAND_USAGE.retry}` };
      return { ok: true, command: { name: 'retry', pattern } };
    }
    case 'stop': {
      const reason = rest.join(' ').trim();
      return { ok: true, command: reason ? { name: 'stop', reason } : { name: 'stop' } };
    }
    default:
      return { ok: false, error: `I don't know \`${first.slice(0, 40)}\`. Try \`help\`.` };
  }
}

/** The fix id a topic belongs to (`fix 42: ...`, a fleet's `fix 42 (web-2 #7): ...`), if any. */
export function fixIdFromTopic(topic: string): number | undefined {
  const m = /^fix (\d+)(?::| \(|$)/.exec(topic);
  return m ? Number(m[1]) : undefined;
}

/** The parts of a message event that decide whether the bot should read it. */
export interface IncomingMessage {
  senderId: number;
  type: 'stream' | 'private';
  flags: readonly string[];
  /** People in a direct message, the bot and the sender included (default 2). */
  participants?: number;
}

/**
 * Should the bot treat this message as a command? Its own messages never; one-to-one direct
 * messages always; channel messages and group direct messages when they @-mention it (the
 * `mentioned` flag, not wildcards), so people talking among themselves are not taken as commands.
 */
export function isAddressedToBot(message: IncomingMessage, botUserId: number): boolean {
  if (message.senderId === botUserId) return false;
  if (message.type === 'private' && (message.participants ?? 2) <= 2) return true;
  return message.flags.includes('mentioned');
}

/** A Zulip user as the allow-list sees them. */
export interface Requester {
  userId: number;
  email?: string | undefined;
}

/**
 * Is this user on `notify.zulip.allow`? Entries are emails (case-insensitive) or user ids
 * (numbers, or strings of digits). An empty list allows no one.
 */
export function isAllowed(allow: ReadonlyArray<string | number>, who: Requester): boolean {
  for (const entry of allow) {
    if (typeof entry === 'number') {
      if (entry === who.userId) return true;
    } else if (/^\d+$/.test(entry.trim())) {
      if (Number(entry.trim()) === who.userId) return true;
    } else if (who.email !== undefined && entry.trim().toLowerCase() === who.email.toLowerCase()) {
      return true;
    }
  }
  return false;
}

/** Unicode codes of the emoji names Dancer suggests for approvals (Zulip's names). */
const EMOJI_CODES: Readonly<Record<string, string>> = {
  check: '2705',
  all_good: '2705',
  approved: '2705',
  cross_mark: '274c',
  '+1': '1f44d',
  thumbs_up: '1f44d',
  '-1': '1f44e',
  thumbs_down: '1f44e',
  stop_sign: '1f6d1',
};

/** Does a reaction (name and code from the event) match the configured emoji name? */
export function reactionMatches(reaction: { emoji_name: string; emoji_code?: string }, configured: string): boolean {
  if (reaction.emoji_name === configured) return true;
  const code = EMOJI_CODES[configured];
  return code !== undefined && reaction.emoji_code === code;
}

/** Which command, if any, a reaction added to a fix's message stands for. */
export function reactionCommand(
  reaction: { op: string; emoji_name: string; emoji_code?: string },
  emoji: { approve: string; reject: string },
): 'approve' | 'reject' | undefined {
  if (reaction.op !== 'add') return undefined;
  if (reactionMatches(reaction, emoji.approve)) return 'approve';
  if (reactionMatches(reaction, emoji.reject)) return 'reject';
  return undefined;
}
