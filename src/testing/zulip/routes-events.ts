/**
 * The event endpoints: `POST /register` (a queue, and the initial state it asks for) and
 * `GET`/`DELETE /events` (long-poll with heartbeats, `BAD_EVENT_QUEUE_ID`).
 */
import type { EventQueues } from './event-queues.js';
import {
  ApiError,
  badRequest,
  FEATURE_LEVEL,
  MERGE_BASE,
  missing,
  parseBoolParam,
  parseIntParam,
  parseJsonParam,
  type RecordFn,
  type Route,
  sendJson,
  ZULIP_VERSION,
} from './protocol.js';
import { type Realm, userObject } from './realm.js';
import type { ZulipTestMessage } from './types.js';

/** What the event routes need from the server. */
export interface EventRouteDeps {
  realm: Realm;
  queues: EventQueues;
  messages: readonly ZulipTestMessage[];
  /** Record a request answered later (a held poll). */
  record: RecordFn;
  changed: () => void;
  now: () => number;
  /** The server's base URL (`realm_url`). */
  url: () => string;
}

/** The `/register` and `/events` routes. */
export function eventRoutes(deps: EventRouteDeps): Route[] {
  const { realm, queues, messages, record, changed, now, url } = deps;
  const { users } = realm;
  const { maxMessageLength, maxTopicLength, editLimitSeconds, longpollTimeoutSeconds } = realm.settings;
  const realmName = realm.settings.name;
  return [
    {
      pattern: /^\/register$/,
      methods: {
        POST: {
          known: [
            'event_types',
            'fetch_event_types',
            'apply_markdown',
            'all_public_streams',
            'narrow',
            'client_gravatar',
            'slim_presence',
            'client_capabilities',
            'include_subscribers',
            'presence_history_limit_days',
          ],
          handle: (ctx) => {
            const eventTypes = parseJsonParam(ctx.params, 'event_types') as string[] | undefined;
            const fetchTypes = (parseJsonParam(ctx.params, 'fetch_event_types') as string[] | undefined) ?? eventTypes;
            parseJsonParam(ctx.params, 'narrow');
            parseJsonParam(ctx.params, 'client_capabilities');
            parseBoolParam(ctx.params, 'all_public_streams', false);
            const applyMarkdown = parseBoolParam(ctx.params, 'apply_markdown', false);
            const queue = queues.register(ctx.user.user_id, eventTypes ?? null, applyMarkdown);
            const body: Record<string, unknown> = {
              queue_id: queue.id,
              last_event_id: -1,
              zulip_feature_level: FEATURE_LEVEL,
              zulip_version: ZULIP_VERSION,
              zulip_merge_base: MERGE_BASE,
            };
            const wants = (t: string) => fetchTypes === undefined || fetchTypes.includes(t);
            if (wants('realm')) {
              Object.assign(body, {
                max_message_length: maxMessageLength,
                max_topic_length: maxTopicLength,
                max_stream_name_length: 60,
                event_queue_longpoll_timeout_seconds: longpollTimeoutSeconds,
                realm_name: realmName,
                realm_url: url(),
                realm_uri: url(),
                realm_message_content_edit_limit_seconds: editLimitSeconds,
              });
            }
            if (wants('message')) {
              body.max_message_id = messages.filter((m) => m.recipients.includes(ctx.user.user_id)).at(-1)?.id ?? -1;
            }
            if (wants('realm_user')) {
              Object.assign(body, {
                user_id: ctx.user.user_id,
                email: ctx.user.email,
                full_name: ctx.user.full_name,
                realm_users: users.filter((u) => u.is_active).map(userObject),
              });
            }
            changed();
            return body;
          },
        },
      },
    },
    {
      pattern: /^\/events$/,
      methods: {
        GET: {
          known: ['queue_id', 'last_event_id', 'dont_block'],
          handle: (ctx, res, headers) => {
            const { params } = ctx;
            const queueId = params.queue_id;
            if (queueId === undefined) throw missing('queue_id');
            const queue = queues.queues.get(queueId);
            if (!queue || queue.userId !== ctx.user.user_id) {
              throw new ApiError(400, 'BAD_EVENT_QUEUE_ID', `Bad event queue ID: ${queueId}`, { queue_id: queueId });
            }
            const last = parseIntParam(params, 'last_event_id');
            if (last === undefined) throw badRequest("Missing 'last_event_id' argument");
            const dontBlock = parseBoolParam(params, 'dont_block', false);
            if (last < queue.acked) throw badRequest(`An event newer than ${last} has already been pruned!`);
            if (last >= queue.nextId) throw badRequest(`Event ${last} was not in this queue`);
            queue.acked = last;
            queue.events = queue.events.filter((e) => e.id > last);
            queue.lastAccess = now();
            if (queue.events.length > 0 || dontBlock) {
              return { events: queue.events, queue_id: queue.id };
            }
            // Hold the request: answer on the next event or with a heartbeat.
            queues.hold(queue, res, () => {
              const body = { result: 'success', msg: '', events: queue.events, queue_id: queue.id };
              record(ctx, 200, body);
              sendJson(res, 200, body, headers);
            });
            changed();
            return null;
          },
        },
        DELETE: {
          known: ['queue_id'],
          handle: (ctx) => {
            const queueId = ctx.params.queue_id;
            if (queueId === undefined) throw missing('queue_id');
            const queue = queues.queues.get(queueId);
            if (!queue || queue.userId !== ctx.user.user_id) {
              throw new ApiError(400, 'BAD_EVENT_QUEUE_ID', `Bad event queue ID: ${queueId}`, { queue_id: queueId });
            }
            queues.dropQueue(queue);
            changed();
            return {};
          },
        },
      },
    },
  ];
}
