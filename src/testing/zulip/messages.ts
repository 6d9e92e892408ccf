/**
 * The realm's messages: sending to a channel or to users (with Zulip's content and topic
 * normalization and truncation), the message object each recipient sees, edits and reactions,
 * each delivered as events to the recipients' queues.
 */
import type { EventEmitter } from 'node:events';
import { codePoints, mentions, renderHtml, sliceCodePoints, wildcardFlags } from './content.js';
import { ZULIP_TEST_EMOJI } from './emoji.js';
import type { EventQueues, InternalQueue } from './event-queues.js';
import { ApiError, badRequest, missing } from './protocol.js';
import type { Realm } from './realm.js';
import type { ZulipTestMessage, ZulipTestReaction, ZulipTestUser } from './types.js';

/** The message store of one server. */
export interface MessageStore {
  /** Every message, in id order (the array handed out as `ZulipTestServer.messages`). */
  readonly messages: ZulipTestMessage[];
  /**
   * Store and deliver a message; `type` is `stream`/`channel` (`to` a channel name or id, JSON or
   * plain) or `private`/`direct` (`to` user ids or emails); returns its id.
   */
  storeMessage(
    sender: ZulipTestUser,
    type: string,
    to: string,
    rawContent: string,
    rawTopic: string | undefined,
    local?: { queueId: string; localId: string },
  ): number;
  /** A message as `recipientUser` sees it (Zulip's message object) and their flags. */
  messageView(
    m: ZulipTestMessage,
    recipientUser: number,
    applyMarkdown: boolean,
  ): { message: Record<string, unknown>; flags: string[] };
  /** `PATCH /messages/{id}` by `editor`. */
  editMessage(editor: ZulipTestUser, id: number, params: Record<string, string>): void;
  /** Add or remove `actor`'s reaction (`emoji_name`, `emoji_code`, `reaction_type` params). */
  react(actor: ZulipTestUser, id: number, params: Record<string, string>, op: 'add' | 'remove'): void;
}

/** Options for {@link createMessageStore}. */
export interface MessageStoreOptions {
  realm: Realm;
  queues: EventQueues;
  /** Gets `message`, `update` and `reaction` events. */
  events: EventEmitter;
  changed: () => void;
  now: () => number;
}

/** An empty message store (ids from 1). */
export function createMessageStore(options: MessageStoreOptions): MessageStore {
  const { realm, queues, events, changed, now } = options;
  const { streams, users, findUser, user } = realm;
  const { maxMessageLength, maxTopicLength, editLimitSeconds } = realm.settings;
  const { broadcast } = queues;
  const messages: ZulipTestMessage[] = [];
  let nextMessageId = 1;

  function normalizeContent(raw: string): { content: string; truncated: boolean } {
    const stripped = raw.replace(/\s+$/u, '').replace(/^\n+/, '');
    if (stripped.length === 0) throw badRequest('Message must not be empty');
    if (stripped.includes('\u0000')) throw badRequest('Message must not contain null bytes');
    if (codePoints(stripped) > maxMessageLength) {
      return { content: `${sliceCodePoints(stripped, maxMessageLength - 20)}\n[message truncated]`, truncated: true };
    }
    return { content: stripped, truncated: false };
  }

  function normalizeTopic(raw: string): string {
    const topic = raw.trim();
    if (topic.length === 0) throw badRequest("Topic can't be empty!");
    if (codePoints(topic) > maxTopicLength) return `${sliceCodePoints(topic, maxTopicLength - 3)}...`;
    return topic;
  }

  function resolveStream(to: string): { name: string; id: number } {
    let value: unknown = to;
    try {
      value = JSON.parse(to);
    } catch {
      value = to;
    }
    if (Array.isArray(value) && value.length === 1) value = value[0];
    if (typeof value === 'number') {
      for (const [name, id] of streams) if (id === value) return { name, id };
      throw new ApiError(400, 'STREAM_DOES_NOT_EXIST', `Channel with ID '${value}' does not exist`, {
        stream_id: value,
      });
    }
    const name = String(value);
    const id = streams.get(name);
    if (id === undefined) {
      throw new ApiError(400, 'STREAM_DOES_NOT_EXIST', `Channel '${name}' does not exist`, { stream: name });
    }
    return { name, id };
  }

  function resolveDirect(to: string): ZulipTestUser[] {
    let list: unknown;
    try {
      list = JSON.parse(to);
    } catch {
      list = to.split(',').map((s) => s.trim());
    }
    if (typeof list === 'string') list = list.split(',').map((s) => s.trim());
    if (typeof list === 'number') list = [list];
    if (!Array.isArray(list) || list.length === 0) throw badRequest('Message must have recipients');
    const allNumbers = list.every((x) => typeof x === 'number');
    const allStrings = list.every((x) => typeof x === 'string');
    if (!allNumbers && !allStrings) throw badRequest('Recipient lists may contain emails or user IDs, but not both.');
    return list.map((x) => {
      const found = findUser(x as number | string);
      if (!found) throw badRequest(typeof x === 'number' ? `Invalid user ID ${x}` : `Invalid email '${x}'`);
      return found;
    });
  }

  function messageEvent(m: ZulipTestMessage, queue: InternalQueue, localId?: string): Record<string, unknown> {
    const { message, flags } = messageView(m, queue.userId, queue.applyMarkdown);
    const event: Record<string, unknown> = { type: 'message', message, flags };
    if (localId !== undefined) event.local_id = localId;
    return event;
  }

  /** A message as `recipientUser` sees it (Zulip's message object) and their flags. */
  function messageView(
    m: ZulipTestMessage,
    recipientUser: number,
    applyMarkdown: boolean,
  ): { message: Record<string, unknown>; flags: string[] } {
    const sender = user(m.sender_id);
    const me = user(recipientUser);
    const flags: string[] = [];
    if (recipientUser === m.sender_id) flags.push('read');
    if (mentions(m.content, me)) flags.push('mentioned');
    if (recipientUser !== m.sender_id) flags.push(...wildcardFlags(m.content, m.type));
    const display =
      m.type === 'stream'
        ? m.stream
        : m.recipients
            .map((id) => user(id))
            .sort((a, b) => a.user_id - b.user_id)
            .map((u) => ({ id: u.user_id, email: u.email, full_name: u.full_name, is_mirror_dummy: false }));
    const message: Record<string, unknown> = {
      id: m.id,
      sender_id: m.sender_id,
      sender_email: sender.email,
      sender_full_name: sender.full_name,
      sender_realm_str: 'zulip',
      type: m.type,
      display_recipient: display,
      subject: m.topic,
      content: applyMarkdown ? renderHtml(m.content) : m.content,
      content_type: applyMarkdown ? 'text/html' : 'text/x-markdown',
      timestamp: m.timestamp,
      recipient_id: m.type === 'stream' ? 100 + (m.stream_id ?? 0) : 1000 + m.recipients.reduce((a, b) => a + b, 0),
      reactions: [],
      submessages: [],
      topic_links: [],
      is_me_message: m.content.startsWith('/me '),
      client: 'ZulipTestServer',
      avatar_url: null,
    };
    if (m.type === 'stream') message.stream_id = m.stream_id;
    return { message, flags };
  }

  function storeMessage(
    sender: ZulipTestUser,
    type: string,
    to: string,
    rawContent: string,
    rawTopic: string | undefined,
    local?: { queueId: string; localId: string },
  ): number {
    let message: ZulipTestMessage;
    const { content, truncated } = normalizeContent(rawContent);
    const timestamp = Math.floor(now() / 1000);
    if (type === 'stream' || type === 'channel') {
      const stream = resolveStream(to);
      if (rawTopic === undefined) throw badRequest('Missing topic');
      const topic = normalizeTopic(rawTopic);
      message = {
        id: nextMessageId++,
        sender_id: sender.user_id,
        type: 'stream',
        stream: stream.name,
        stream_id: stream.id,
        topic,
        content,
        timestamp,
        recipients: users.filter((u) => u.is_active).map((u) => u.user_id),
        reactions: [],
        edits: [],
        truncated,
      };
    } else if (type === 'private' || type === 'direct') {
      const recipients = resolveDirect(to);
      const ids = new Set([sender.user_id, ...recipients.map((u) => u.user_id)]);
      message = {
        id: nextMessageId++,
        sender_id: sender.user_id,
        type: 'private',
        topic: '',
        content,
        timestamp,
        recipients: [...ids],
        reactions: [],
        edits: [],
        truncated,
      };
    } else {
      throw new ApiError(400, 'BAD_REQUEST', 'Invalid message type');
    }
    messages.push(message);
    broadcast(message.recipients, (q) =>
      messageEvent(message, q, local && q.id === local.queueId ? local.localId : undefined),
    );
    events.emit('message', message);
    changed();
    return message.id;
  }

  function findMessage(id: number, viewer: ZulipTestUser): ZulipTestMessage {
    const m = messages.find((x) => x.id === id);
    if (!m?.recipients.includes(viewer.user_id)) throw badRequest('Invalid message(s)');
    return m;
  }

  function editMessage(editor: ZulipTestUser, id: number, params: Record<string, string>): void {
    const m = findMessage(id, editor);
    const rawContent = params.content;
    const rawTopic = params.topic ?? params.subject;
    const streamId = params.stream_id;
    if (rawContent === undefined && rawTopic === undefined && streamId === undefined) {
      throw badRequest('Nothing to change');
    }
    if (rawContent !== undefined && streamId !== undefined) {
      throw badRequest('Cannot change message content while changing channel');
    }
    if (rawTopic !== undefined && m.type === 'private') throw badRequest('Direct messages cannot have topics.');
    if (streamId !== undefined) throw badRequest('Moving messages between channels is not supported by this server');
    if (rawContent !== undefined) {
      if (m.sender_id !== editor.user_id) throw badRequest("You don't have permission to edit this message");
      if (editLimitSeconds !== null && now() / 1000 - m.timestamp > editLimitSeconds + 20) {
        throw badRequest('The time limit for editing this message has passed');
      }
    }
    const content = rawContent === undefined ? m.content : normalizeContent(rawContent).content;
    const topic = rawTopic === undefined ? m.topic : normalizeTopic(rawTopic);
    const orig = { content: m.content, topic: m.topic };
    m.edits.push({ user_id: editor.user_id, at: now(), prev_content: m.content, prev_topic: m.topic });
    m.content = content;
    m.topic = topic;
    broadcast(m.recipients, (q) => {
      const me = user(q.userId);
      const event: Record<string, unknown> = {
        type: 'update_message',
        user_id: editor.user_id,
        rendering_only: false,
        message_id: m.id,
        message_ids: [m.id],
        flags: mentions(m.content, me) ? ['mentioned'] : [],
        edit_timestamp: Math.floor(now() / 1000),
        is_me_message: false,
      };
      if (m.type === 'stream') {
        event.stream_name = m.stream;
        event.stream_id = m.stream_id;
      }
      if (rawContent !== undefined) {
        event.orig_content = orig.content;
        event.orig_rendered_content = renderHtml(orig.content);
        event.content = q.applyMarkdown ? renderHtml(m.content) : m.content;
        event.rendered_content = renderHtml(m.content);
        event.topic_links = [];
      }
      if (rawTopic !== undefined) {
        event.propagate_mode = params.propagate_mode ?? 'change_one';
        event.orig_subject = orig.topic;
        event.subject = m.topic;
      }
      return event;
    });
    events.emit('update', m);
    changed();
  }

  function react(actor: ZulipTestUser, id: number, params: Record<string, string>, op: 'add' | 'remove'): void {
    const m = findMessage(id, actor);
    const name = params.emoji_name;
    if (op === 'add' && name === undefined) throw missing('emoji_name');
    if (name === undefined && params.emoji_code === undefined) {
      throw badRequest('At least one of the following arguments must be present: emoji_name, emoji_code');
    }
    const reactionType = params.reaction_type ?? 'unicode_emoji';
    let code = params.emoji_code;
    if (name !== undefined) {
      const known = ZULIP_TEST_EMOJI[name];
      if (known === undefined) throw badRequest(`Emoji '${name}' does not exist`);
      if (code !== undefined && code !== known) throw badRequest('Invalid emoji code');
      code = known;
    }
    const index = m.reactions.findIndex(
      (r) => r.user_id === actor.user_id && r.emoji_code === code && r.reaction_type === reactionType,
    );
    let reaction: ZulipTestReaction;
    if (op === 'add') {
      if (index >= 0) throw new ApiError(400, 'REACTION_ALREADY_EXISTS', 'Reaction already exists.');
      reaction = { emoji_name: name!, emoji_code: code!, reaction_type: reactionType, user_id: actor.user_id };
      m.reactions.push(reaction);
    } else {
      if (index < 0) throw new ApiError(400, 'REACTION_DOES_NOT_EXIST', "Reaction doesn't exist.");
      reaction = m.reactions.splice(index, 1)[0]!;
    }
    broadcast(m.recipients, () => ({
      type: 'reaction',
      op,
      user_id: actor.user_id,
      user: { user_id: actor.user_id, email: actor.email, full_name: actor.full_name },
      message_id: m.id,
      emoji_name: reaction.emoji_name,
      emoji_code: reaction.emoji_code,
      reaction_type: reaction.reaction_type,
    }));
    events.emit('reaction', { op, message: m, reaction });
    changed();
  }

  return { messages, storeMessage, messageView, editMessage, react };
}
