/**
 * The user and server endpoints: `GET /users/me`, `GET /users`, and the body of the
 * unauthenticated `GET /server_settings`.
 */
import { FEATURE_LEVEL, MERGE_BASE, type Route, ZULIP_VERSION } from './protocol.js';
import { userObject } from './realm.js';
import type { ZulipTestMessage, ZulipTestUser } from './types.js';

/** The `/users/me` and `/users` routes. */
export function userRoutes(users: readonly ZulipTestUser[], messages: readonly ZulipTestMessage[]): Route[] {
  return [
    {
      pattern: /^\/users\/me$/,
      methods: {
        GET: {
          known: [],
          handle: (ctx) => {
            const max = messages.filter((m) => m.recipients.includes(ctx.user.user_id)).at(-1)?.id ?? -1;
            return { ...userObject(ctx.user), max_message_id: max, profile_data: {} };
          },
        },
      },
    },
    {
      pattern: /^\/users$/,
      methods: {
        GET: {
          known: ['client_gravatar', 'include_custom_profile_fields', 'user_ids'],
          handle: () => ({ members: users.map(userObject) }),
        },
      },
    },
  ];
}

/** The body of `GET /server_settings` (no authentication needed). */
export function serverSettingsBody(realmName: string, realmUrl: string): Record<string, unknown> {
  return {
    result: 'success',
    msg: '',
    authentication_methods: { password: true, dev: false, email: true },
    zulip_version: ZULIP_VERSION,
    zulip_merge_base: MERGE_BASE,
    zulip_feature_level: FEATURE_LEVEL,
    push_notifications_enabled: false,
    is_incompatible: false,
    email_auth_enabled: true,
    require_email_format_usernames: true,
    realm_url: realmUrl,
    realm_uri: realmUrl,
    realm_name: realmName,
    realm_icon: '',
    realm_description: '',
    realm_web_public_access_enabled: false,
  };
}
