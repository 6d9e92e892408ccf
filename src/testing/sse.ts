/**
 * Pure encoders for Messages API replies: the SSE event sequence Claude Code parses (every event
 * with an `event:` line; `data:`-only streams make it fall back to non-streaming), and the plain
 * JSON message.
 */
import type { ReplyBlock, TurnUsage } from './scenario.js';

/** One reply to encode. */
export interface ReplySpec {
  id: string;
  model: string;
  blocks: ReplyBlock[];
  stopReason: string;
  usage: TurnUsage;
}

/** One SSE event: name and JSON payload (whose `type` repeats the name). */
export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Serialize one event: `event: <type>\ndata: <json>\n\n`. */
export function encodeSse(event: SseEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** Split a string in pieces of at most `size` characters (at least one piece). */
function chunks(text: string, size: number): string[] {
  if (text.length <= size) return [text];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The event sequence of a streamed reply, in the order the API sends it. */
export function sseEvents(reply: ReplySpec, chunkSize = 64): SseEvent[] {
  const ev = (type: string, rest: Record<string, unknown> = {}): SseEvent => ({
    event: type,
    data: { type, ...rest },
  });
  const events: SseEvent[] = [
    ev('message_start', {
      message: {
        id: reply.id,
        type: 'message',
        role: 'assistant',
        model: reply.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: reply.usage.input_tokens,
          output_tokens: 1,
          cache_creation_input_tokens: reply.usage.cache_creation_input_tokens,
          cache_read_input_tokens: reply.usage.cache_read_input_tokens,
        },
      },
    }),
    ev('ping'),
  ];
  reply.blocks.forEach((block, index) => {
    if (block.type === 'text') {
      events.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      for (const piece of chunks(block.text, chunkSize)) {
        events.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
      }
    } else {
      events.push(
        ev('content_block_start', {
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        }),
      );
      for (const piece of chunks(JSON.stringify(block.input), chunkSize)) {
        events.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }));
      }
    }
    events.push(ev('content_block_stop', { index }));
  });
  events.push(
    ev('message_delta', {
      delta: { stop_reason: reply.stopReason, stop_sequence: null },
      usage: { output_tokens: reply.usage.output_tokens },
    }),
    ev('message_stop'),
  );
  return events;
}

/** The same reply as a non-streaming Message object. */
export function jsonMessage(reply: ReplySpec): Record<string, unknown> {
  return {
    id: reply.id,
    type: 'message',
    role: 'assistant',
    model: reply.model,
    content: reply.blocks,
    stop_reason: reply.stopReason,
    stop_sequence: null,
    usage: { ...reply.usage },
  };
}

/** The API's error body. */
export function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'error', error: { type, message } };
}

/** The API error type for an HTTP status. */
export function errorTypeFor(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status === 404) return 'not_found_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}
