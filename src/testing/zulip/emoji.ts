/**
 * A small part of Zulip's emoji name table (`tools/setup/emoji/emoji_names.py`): the names a bot
 * is likely to use for approvals and status, each mapped to its Unicode `emoji_code`.
 * Aliases map to the same code, as on a real server.
 */
export const ZULIP_TEST_EMOJI: Readonly<Record<string, string>> = Object.freeze({
  check: '2705',
  all_good: '2705',
  approved: '2705',
  cross_mark: '274c',
  '+1': '1f44d',
  thumbs_up: '1f44d',
  '-1': '1f44e',
  thumbs_down: '1f44e',
  stop_sign: '1f6d1',
  eyes: '1f440',
  rocket: '1f680',
  time_ticking: '23f3',
  hourglass: '23f3',
  tada: '1f389',
  octopus: '1f419',
  heart: '2764',
  warning: '26a0',
  rewind: '23ea',
  red_circle: '1f534',
  green_circle: '1f7e2',
  working_on_it: '1f6e0',
});
