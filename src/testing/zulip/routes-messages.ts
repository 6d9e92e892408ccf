/**
 * The message endpoints: `POST`/`GET /messages`, `PATCH /messages/{id}` and
 * `POST`/`DELETE /messages/{id}/reactions`.
 */
import type { MessageStore } from './messages.js';
import {
  ApiError,
  badRequest,
  missing,
  parseBoolParam,
  parseIntParam,
  parseJsonParam,
  type Route,
} from './protocol.js';
import type { ZulipTestMessage } from './types.js';

/** The message routes over `store`. */
export function messageRoutes(store: MessageStore): Route[] {
  const { messages, storeMessage, messageView, editMessage, react } = store;
  return [
    {
      pattern: /^\/messages$/,
      methods: {
        POST: {
          known: ['type', 'to', 'content', 'topic', 'subject', 'queue_id', 'local_id', 'read_by_sender'],
          handle: (ctx) => {
            const { params } = ctx;
            if (params.type === undefined) throw missing('type');
            if (params.to === undefined) throw missing('to');
            if (params.content === undefined) throw missing('content');
            const local =
              params.queue_id !== undefined && params.local_id !== undefined
                ? { queueId: params.queue_id, localId: params.local_id }
                : undefined;
            const id = storeMessage(
              ctx.user,
              params.type,
              params.to,
              params.content,
              params.topic ?? params.subject,
              local,
            );
            return { id };
          },
        },
        GET: {
          known: [
            'anchor',
            'num_before',
            'num_after',
            'narrow',
            'apply_markdown',
            'client_gravatar',
            'include_anchor',
            'message_ids',
          ],
          handle: (ctx) => {
            const { params } = ctx;
            const applyMarkdown = parseBoolParam(params, 'apply_markdown', true);
            const narrow = parseJsonParam(params, 'narrow');
            if (narrow !== undefined && (!Array.isArray(narrow) || narrow.length > 0)) {
              throw new ApiError(400, 'BAD_NARROW', 'This test server supports only an empty narrow');
            }
            const visible = messages.filter((m) => m.recipients.includes(ctx.user.user_id));
            const view = (m: ZulipTestMessage) => {
              const { message, flags } = messageView(m, ctx.user.user_id, applyMarkdown);
              return { ...message, flags };
            };
            const ids = parseJsonParam(params, 'message_ids');
            if (ids !== undefined) {
              if (!Array.isArray(ids)) throw badRequest('message_ids is not a list');
              return { messages: visible.filter((m) => ids.includes(m.id)).map(view), history_limited: false };
            }
            const rawAnchor = params.anchor;
            if (rawAnchor === undefined) throw missing('anchor');
            const numBefore = parseIntParam(params, 'num_before');
            const numAfter = parseIntParam(params, 'num_after');
            if (numBefore === undefined) throw missing('num_before');
            if (numAfter === undefined) throw missing('num_after');
            if (numBefore < 0 || numAfter < 0) throw badRequest('num_before and num_after must be non-negative');
            if (numBefore + numAfter > 5000) throw badRequest('Too many messages requested (maximum 5000).');
            const includeAnchor = parseBoolParam(params, 'include_anchor', true);
            const lastId = visible.at(-1)?.id ?? 0;
            let anchor: number;
            if (rawAnchor === 'newest') anchor = Number.MAX_SAFE_INTEGER;
            else if (rawAnchor === 'oldest') anchor = 0;
            else if (rawAnchor === 'first_unread') anchor = lastId;
            else if (/^\d+$/.test(rawAnchor)) anchor = Number(rawAnchor);
            else throw badRequest(`Invalid anchor`);
            const before = visible.filter((m) => m.id < anchor);
            const after = visible.filter((m) => m.id > anchor);
            const at = visible.find((m) => m.id === anchor);
            const chosen = [
              ...before.slice(Math.max(0, before.length - numBefore)),
              ...(at && includeAnchor ? [at] : []),
              ...after.slice(0, numAfter),
            ];
            return {
              messages: chosen.map(view),
              anchor: rawAnchor === 'newest' ? lastId : anchor,
              found_anchor: at !== undefined,
              found_oldest: before.length <= numBefore,
              found_newest: after.length <= numAfter,
              history_limited: false,
            };
          },
        },
      },
    },
    {
      pattern: /^\/messages\/(\d+)$/,
      methods: {
        PATCH: {
          known: [
            'content',
            'topic',
            'subject',
            'stream_id',
            'propagate_mode',
            'send_notification_to_old_thread',
            'send_notification_to_new_thread',
          ],
          handle: (ctx) => {
            editMessage(ctx.user, Number(ctx.path.split('/')[2]), ctx.params);
            return { detached_uploads: [] };
          },
        },
      },
    },
    {
      pattern: /^\/messages\/(\d+)\/reactions$/,
      methods: {
        POST: {
          known: ['emoji_name', 'emoji_code', 'reaction_type'],
          handle: (ctx) => {
            react(ctx.user, Number(ctx.path.split('/')[2]), ctx.params, 'add');
            return {};
          },
        },
        DELETE: {
          known: ['emoji_name', 'emoji_code', 'reaction_type'],
          handle: (ctx) => {
            react(ctx.user, Number(ctx.path.split('/')[2]), ctx.params, 'remove');
            return {};
          },
        },
      },
    },
  ];
}
