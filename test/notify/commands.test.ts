import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fixIdFromTopic,
  isAddressedToBot,
  isAllowed,
  parseCommand,
  reactionCommand,
  stripMention,
} from '../../src/notify/zulip/commands.js';

describe('parseCommand', () => {
  it('parses every command, with or without a leading mention', () => {
    expect(parseCommand('@**Dancer** help')).toEqual({ ok: true, command: { name: 'help' } });
    expect(parseCommand('@**Dancer|12** STATUS')).toEqual({ ok: true, command: { name: 'status' } });
    expect(parseCommand('patterns')).toEqual({ ok: true, command: { name: 'patterns' } });
    expect(parseCommand('fixes')).toEqual({ ok: true, command: { name: 'fixes' } });
    expect(parseCommand('show 42')).toEqual({ ok: true, command: { name: 'show', id: 42 } });
    expect(parseCommand('approve #42')).toEqual({ ok: true, command: { name: 'approve', id: 42 } });
    expect(parseCommand('reject 42 breaks the login flow')).toEqual({
      ok: true,
      command: { name: 'reject', id: 42, reason: 'breaks the login flow' },
    });
    expect(parseCommand('rollback')).toEqual({ ok: true, command: { name: 'rollback' } });
    expect(parseCommand('rollback 7')).toEqual({ ok: true, command: { name: 'rollback', id: 7 } });
    expect(parseCommand('stop')).toEqual({ ok: true, command: { name: 'stop' } });
    expect(parseCommand('stop the deploy looks wrong')).toEqual({
      ok: true,
      command: { name: 'stop', reason: 'the deploy looks wrong' },
    });
    expect(parseCommand('resume')).toEqual({ ok: true, command: { name: 'resume' } });
    expect(parseCommand('/budget')).toEqual({ ok: true, command: { name: 'budget' } });
    expect(parseCommand('@**Dancer**')).toEqual({ ok: true, command: { name: 'help' } });
  });

  it('explains bad input instead of guessing', () => {
    expect(parseCommand('approve')).toEqual({ ok: false, error: expect.stringContaining('approve ID') });
    expect(parseCommand('approve forty-two')).toMatchObject({ ok: false });
    expect(parseCommand('reject 42')).toEqual({ ok: false, error: expect.stringContaining('needs a reason') });
    expect(parseCommand('deploy everything')).toEqual({ ok: false, error: expect.stringContaining('`deploy`') });
  });

  it('takes the fix id from the topic when it is left out', () => {
    expect(parseCommand('approve', { fixId: 9 })).toEqual({ ok: true, command: { name: 'approve', id: 9 } });
    expect(parseCommand('reject flaky test', { fixId: 9 })).toEqual({
      ok: true,
      command: { name: 'reject', id: 9, reason: 'flaky test' },
    });
    expect(parseCommand('rollback', { fixId: 9 })).toEqual({ ok: true, command: { name: 'rollback', id: 9 } });
    expect(parseCommand('approve 3', { fixId: 9 })).toEqual({ ok: true, command: { name: 'approve', id: 3 } });
    expect(fixIdFromTopic('fix 42: TypeError …')).toBe(42);
    expect(fixIdFromTopic('fixes')).toBeUndefined();
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const r = parseCommand(text);
        expect(typeof r.ok).toBe('boolean');
      }),
    );
  });

  it('strips mentions, silent mentions and a slash', () => {
    expect(stripMention('@_**Dancer|3**, approve 1')).toBe('approve 1');
  });
});

describe('addressing and the allow-list', () => {
  it('reads DMs and mentions, never its own messages, not wildcards', () => {
    expect(isAddressedToBot({ senderId: 5, type: 'private', flags: [] }, 1)).toBe(true);
    expect(isAddressedToBot({ senderId: 5, type: 'stream', flags: ['mentioned'] }, 1)).toBe(true);
    expect(isAddressedToBot({ senderId: 5, type: 'stream', flags: ['wildcard_mentioned'] }, 1)).toBe(false);
    expect(isAddressedToBot({ senderId: 1, type: 'private', flags: ['mentioned'] }, 1)).toBe(false);
    // A group DM: only when mentioned.
    expect(isAddressedToBot({ senderId: 5, type: 'private', flags: [], participants: 3 }, 1)).toBe(false);
    expect(isAddressedToBot({ senderId: 5, type: 'private', flags: ['mentioned'], participants: 3 }, 1)).toBe(true);
  });

  it('matches emails case-insensitively and ids as numbers or digit strings', () => {
    const allow = ['Alice@Example.com', 42, '77'];
    expect(isAllowed(allow, { userId: 1, email: 'alice@example.com' })).toBe(true);
    expect(isAllowed(allow, { userId: 42 })).toBe(true);
    expect(isAllowed(allow, { userId: 77, email: 'x@y' })).toBe(true);
    expect(isAllowed(allow, { userId: 8, email: 'mallory@example.com' })).toBe(false);
    expect(isAllowed([], { userId: 42, email: 'alice@example.com' })).toBe(false);
  });

  it('maps reactions by name or Unicode code, adds only', () => {
    const emoji = { approve: 'check', reject: 'cross_mark' };
    expect(reactionCommand({ op: 'add', emoji_name: 'check', emoji_code: '2705' }, emoji)).toBe('approve');
    expect(reactionCommand({ op: 'add', emoji_name: 'approved', emoji_code: '2705' }, emoji)).toBe('approve');
    expect(reactionCommand({ op: 'add', emoji_name: 'cross_mark', emoji_code: '274c' }, emoji)).toBe('reject');
    expect(reactionCommand({ op: 'remove', emoji_name: 'check', emoji_code: '2705' }, emoji)).toBeUndefined();
    expect(reactionCommand({ op: 'add', emoji_name: 'eyes', emoji_code: '1f440' }, emoji)).toBeUndefined();
    expect(reactionCommand({ op: 'add', emoji_name: '+1', emoji_code: '1f44d' }, { approve: '+1', reject: '-1' })).toBe(
      'approve',
    );
  });
});
