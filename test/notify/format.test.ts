import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FixInfo } from '../../src/notify/events.js';
import {
  codePointLength,
  collapseBacklog,
  type FormatContext,
  fenced,
  fitMessage,
  fixTopic,
  formatApprovalRequest,
  formatConsultationStarted,
  formatDeployFinished,
  formatDigest,
  formatFixHead,
  formatProposal,
  formatRefusal,
  formatRollback,
  formatStateReply,
} from '../../src/notify/zulip/format.js';
import { digestDue, planEventMessages } from '../../src/notify/zulip/plan.js';

const ctx: FormatContext = { botName: 'Dancer', maxLength: 10_000, emoji: { approve: 'check', reject: 'cross_mark' } };
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

const fix: FixInfo = {
  id: 42,
  state: 'awaiting_approval',
  pattern: { id: 17, summary: "TypeError: Cannot read properties of undefined (reading 'id') at getUser", count: 1204 },
  title: 'Guard against a missing session user',
  analysis: 'The session expires between the auth check and the lookup.\nA null check is enough.',
  diff: 'diff --git a/src/user.ts b/src/user.ts\n--- a/src/user.ts\n+++ b/src/user.ts\n@@ -1 +1 @@\n-return u.id\n+return u?.id\n',
  files: [{ path: 'src/user.ts', added: 1, removed: 1 }],
  gates: [
    { name: 'build', ok: true, durationMs: 1200 },
    { name: 'test', ok: true, durationMs: 4100 },
  ],
  risk: { level: 'low', reasons: ['one line', 'covered by a regression test'] },
  costUsd: 0.42,
  branch: 'dancer/fix-20261125-1200-ab12cd',
};

describe('formatting', () => {
  it('names one topic per fix within 60 code points', () => {
    expect(fixTopic(fix)).toBe('fix 42: TypeError: Cannot read properties of undefined (rea…');
    expect(codePointLength(fixTopic(fix))).toBe(60);
    expect(fixTopic({ id: 3, pattern: { summary: 'ECONNRESET\n  upstream' } })).toBe('fix 3: ECONNRESET upstream');
  });

  it('writes a head message with state, pattern, risk, cost, gates and how to decide', () => {
    const head = formatFixHead(fix, ctx, NOW);
    expect(head).toContain('**Fix 42** · :time_ticking: **awaiting approval**');
    expect(head).toContain('**Risk:** low · **Cost:** $0.42 · **Gates:** 2/2 passed');
    expect(head).toContain('`@**Dancer** approve 42`');
    expect(head).toContain('<time:2026-11-25T12:00:00Z>');
  });

  it('writes a proposal with analysis, diff summary, gates, risk, cost and the diff in a spoiler', () => {
    const text = formatProposal(fix, ctx);
    expect(text).toContain('> The session expires');
    expect(text).toContain('**Diff:** 1 file, +1 −1');
    expect(text).toContain('| `src/user.ts` | 1 | 1 |');
    expect(text).toContain(':check: build 1.2s');
    expect(text).toContain('**Risk:** low (one line; covered by a regression test) · **Cost:** $0.42');
    expect(text).toMatch(/````spoiler Full diff[^\n]*\n```diff\n/);
  });

  it('leaves the diff out, with a pointer, when it would not fit', () => {
    const big = { ...fix, diff: '+x\n'.repeat(5000) };
    const text = formatProposal(big, { ...ctx, dashboardUrl: 'https://dancer.example/' });
    expect(codePointLength(text)).toBeLessThanOrEqual(10_000);
    expect(text).not.toContain('spoiler');
    expect(text).toContain('`dancer fixes diff 42` or [the dashboard](https://dancer.example/fixes/42)');
  });

  it('fitMessage trims to the limit in code points and closes an open fence', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 3000 }), fc.integer({ min: 200, max: 2000 }), (s, max) => {
        const out = fitMessage(s, max, '`dancer fixes show 1`');
        expect(codePointLength(out)).toBeLessThanOrEqual(max);
        if (codePointLength(s) <= max) expect(out).toBe(s);
      }),
    );
    const cut = fitMessage(`intro\n\`\`\`\n${'line\n'.repeat(400)}\`\`\``, 300, 'x');
    expect(cut.match(/```/g)?.length).toBe(2);
    expect(cut).toContain('trimmed');
  });

  it('fences around diffs that contain fences', () => {
    expect(fenced('a\n```\nb\n```', 'diff')).toBe('````diff\na\n```\nb\n```\n````');
  });

  it('says every step briefly', () => {
    expect(formatStateReply({ from: 'approved', to: 'deploying', actor: 'supervisor' })).toBe(
      ':rocket: **deploying** (from approved, by supervisor)',
    );
    expect(
      formatConsultationStarted(
        {
          type: 'consultation_started',
          at: NOW,
          consultationId: 7,
          pattern: { id: 17, summary: 'TypeError', count: 1204, windowCount: 40, window: '10m', baseline: 3 },
          trigger: 'rate > 3x baseline over 10m',
        },
        ctx,
      ),
    ).toBe(
      ':mag: **Consultation 7 started** for pattern #17 `TypeError` (1,204 occurrences)\n' +
        '- **Counts:** 40 in the last 10m (baseline 3), 1,204 overall\n- **Trigger:** rate > 3x baseline over 10m',
    );
    expect(formatApprovalRequest(fix, ctx)).toContain('React :check: to approve or :cross_mark: to reject');
    const deployed = formatDeployFinished(
      {
        type: 'deploy_finished',
        at: NOW,
        fixId: 42,
        release: 'a1b2c3d',
        ok: true,
        durationMs: 8400,
        before: { errorRate: 4, p95Ms: 120 },
        after: { errorRate: 0.1, p95Ms: 118 },
      },
      ctx,
    );
    expect(deployed).toContain('| errors/min | 4.00 | 0.10 | −98% |');
    expect(deployed).toContain('live in 8.4 s');
    expect(
      formatRollback(
        { type: 'rollback', at: NOW, fixId: 42, reason: 'error rate +80%', actor: 'supervisor', ok: true },
        ctx,
      ),
    ).toBe(':rewind: **Rolled back** fix 42, by supervisor.\n**Reason:** error rate +80%');
    expect(formatRefusal({ name: 'Mallory', userId: 9 }, 'approve')).toContain('@_**Mallory|9**');
  });

  it('writes a digest with fixes, cost and top patterns', () => {
    const text = formatDigest(
      {
        from: NOW - 86_400_000,
        to: NOW,
        fixes: { proposed: 3, deployed: 2, rolledBack: 1, rejected: 0, failed: 0, open: 1 },
        consultations: 4,
        costUsd: 1.23,
        budgetUsd: 10,
        topPatterns: [{ id: 17, summary: 'TypeError', count: 1204 }],
      },
      ctx,
    );
    expect(text).toContain('3 proposed, 2 deployed, 1 rolled back, 0 rejected, 0 failed; 1 open');
    expect(text).toContain('$1.23 of $10.00 daily budget over 4 consultations');
    expect(text).toContain('1. `TypeError` (#17): 1,204');
  });

  it('collapses a backlog with the time of each part, or refuses when too long', () => {
    const parts = [
      { content: 'one', createdAt: Date.UTC(2026, 0, 1, 14, 2) },
      { content: 'two', createdAt: Date.UTC(2026, 0, 1, 15, 1) },
    ];
    expect(collapseBacklog(parts, 1000)).toBe(
      '_2 updates queued while Zulip was unreachable (14:02–15:01 UTC):_\n\n**14:02** one\n\n**15:01** two',
    );
    expect(collapseBacklog(parts, 20)).toBeUndefined();
  });
});

describe('planning messages for events', () => {
  const settings = { stream: 'dancer', statusTopic: 'dancer' };
  it('posts the head once, then edits it, with a reply per step', () => {
    const first = planEventMessages(
      { type: 'fix_proposed', at: NOW, fix: { ...fix, state: 'proposed' } },
      ctx,
      settings,
      {
        hasHead: false,
        hasApproval: false,
      },
    );
    expect(first.map((m) => [m.op ?? 'post', m.role, m.refKey, m.topic])).toEqual([
      ['post', 'head', 'fix:42:head', fixTopic(fix)],
      ['post', 'proposal', 'fix:42:proposal', fixTopic(fix)],
    ]);
    const step = planEventMessages(
      {
        type: 'fix_state',
        at: NOW,
        fix: { ...fix, state: 'approved' },
        from: 'awaiting_approval',
        to: 'approved',
        actor: 'human:a@x',
      },
      ctx,
      settings,
      { topic: 'fix 42: old summary', hasHead: true, hasApproval: true },
    );
    expect(step.map((m) => [m.op ?? 'post', m.targetKey, m.topic, m.content.slice(0, 20)])).toEqual([
      ['edit', 'fix:42:head', 'fix 42: old summary', '**Fix 42** · :check:'],
      ['post', undefined, 'fix 42: old summary', ':check: **approved**'],
      ['unreact', 'fix:42:approval', 'fix 42: old summary', 'check'],
      ['unreact', 'fix:42:approval', 'fix 42: old summary', 'cross_mark'],
    ]);
  });

  it('asks for approval with reaction buttons', () => {
    const out = planEventMessages({ type: 'approval_requested', at: NOW, fix }, ctx, settings, {
      hasHead: true,
      hasApproval: false,
    });
    expect(out.map((m) => [m.op ?? 'post', m.role, m.refKey ?? m.targetKey])).toEqual([
      ['post', 'approval', 'fix:42:approval'],
      ['react', 'approval', 'fix:42:approval'],
      ['react', 'approval', 'fix:42:approval'],
    ]);
  });

  it('sends fix-less events to the status topic', () => {
    const out = planEventMessages({ type: 'failure', at: NOW, component: 'consult', message: 'boom' }, ctx, settings, {
      hasHead: false,
      hasApproval: false,
    });
    expect(out).toEqual([expect.objectContaining({ topic: 'dancer', role: 'status' })]);
  });

  it('says when the daily digest is due', () => {
    const nine = Date.UTC(2026, 10, 25, 9, 0);
    expect(digestDue(nine + 60_000, undefined, 9)).toBe(true);
    expect(digestDue(nine + 60_000, nine + 1000, 9)).toBe(false);
    expect(digestDue(nine + 60_000, nine - 86_400_000, 9)).toBe(true);
    expect(digestDue(nine + 2 * 3_600_000, undefined, 9)).toBe(false);
    expect(digestDue(nine - 60_000, undefined, 9)).toBe(false);
  });
});

describe('untrusted text', () => {
  it('cannot mention anyone', () => {
    const text = formatProposal(
      { ...fix, analysis: 'ping @**all** and @_**Alice|3** and @*ops*', title: '@**everyone** fix' },
      ctx,
    );
    expect(text).not.toMatch(/@_?\*\*(all|everyone|Alice)/);
    expect(text).not.toContain('@*ops*');
    expect(text).toContain('`@**Dancer** approve 42`'); // the bot's own instructions stay intact
  });
});
