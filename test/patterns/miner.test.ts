import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { covers, flexCovers, generalize, isKeyword, TemplateMiner } from '../../src/patterns/miner.js';

describe('TemplateMiner.add', () => {
  it('groups messages that differ only in masked values, with parameters', () => {
    const m = new TemplateMiner();
    const a = m.add('request 17 failed after 3 retries');
    const b = m.add('request 18 failed after 5 retries');
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.changed).toBe(false);
    expect(b.templateId).toBe(a.templateId);
    expect(b.template).toBe('request <*> failed after <*> retries');
    expect(b.parameters).toEqual(['18', '5']);
    expect(m.get(a.templateId)?.count).toBe(2);
  });

  it('generalises differing words into <*> on evidence (four distinct, spread thin) and keeps the id', () => {
    const m = new TemplateMiner();
    const a = m.add('cache miss for key alpha in region east');
    const b = m.add('cache miss for key beta in region east');
    const c = m.add('cache miss for key gamma in region east');
    // Up to three words could be three events: kept apart.
    expect(new Set([a.templateId, b.templateId, c.templateId]).size).toBe(3);
    const d = m.add('cache miss for key delta in region east');
    expect(d.templateId).toBe(a.templateId);
    expect(d.changed).toBe(true);
    expect(d.template).toBe('cache miss for key <*> in region east');
    expect(d.parameters).toEqual(['delta']);
    expect(m.resolveId(b.templateId)).toBe(a.templateId);
    expect(m.size).toBe(1);
  });

  it('keeps a shared key= prefix and outer punctuation when generalising', () => {
    expect(generalize('user=root', 'user=bob')).toBe('user=<*>');
    expect(generalize('[alpha]', '[beta]')).toBe('[<*>]');
    expect(generalize('alpha', 'beta')).toBe('<*>');
  });

  it('keeps different messages apart', () => {
    const m = new TemplateMiner();
    const a = m.add('connection opened to primary');
    const b = m.add('disk almost full on volume');
    expect(b.templateId).not.toBe(a.templateId);
    expect(m.size).toBe(2);
  });

  it('never turns upper-case keywords (enum states, methods) into <*>', () => {
    expect(isKeyword('RUNNING')).toBe(true);
    expect(isKeyword('(FAIL_TASK_CLEANUP)')).toBe(true);
    expect(isKeyword('Running')).toBe(false);
    const m = new TemplateMiner();
    const a = m.add('task 1 moved from NEW to RUNNING');
    const b = m.add('task 2 moved from RUNNING to SUCCEEDED');
    const c = m.add('task 3 moved from NEW to RUNNING');
    expect(b.templateId).not.toBe(a.templateId);
    expect(c.templateId).toBe(a.templateId);
  });

  it('does not split a template by a variable leading token that is not a word', () => {
    const m = new TemplateMiner();
    const a = m.add('shard3x is down since last check');
    const b = m.add('shard7y is down since last check');
    expect(b.templateId).toBe(a.templateId);
    expect(b.template).toBe('<*> is down since last check');
  });

  it('merges words once four different ones share the rest, recording the merge', () => {
    const m = new TemplateMiner();
    const a = m.add('user alice logged in from web');
    const b = m.add('user bob logged in from web');
    expect(b.templateId).not.toBe(a.templateId); // two words could be two events (Accepted/Failed)
    m.add('user carol logged in from web');
    const c = m.add('user dave logged in from web');
    expect(c.templateId).toBe(a.templateId);
    expect(c.template).toBe('user <*> logged in from web');
    expect(m.get(b.templateId)?.id).toBe(a.templateId); // get follows the merge
    const merged = m.templates().find((t) => t.id === b.templateId);
    expect(merged?.mergedInto).toBe(a.templateId);
    expect(m.get(a.templateId)?.count).toBe(4);
    expect(m.resolveId(b.templateId)).toBe(a.templateId);
  });

  it('matches values that change the token count (variable-length parts)', () => {
    const m = new TemplateMiner();
    const a = m.add('session closed, lifetime 00:01');
    const b = m.add('session closed, lifetime <1 sec');
    const c = m.add('session closed, sent 12 bytes (0.01 KB), lifetime 00:02');
    const d = m.add('session closed, sent 12 bytes, lifetime 00:02');
    expect(b.templateId).toBe(a.templateId);
    expect(b.parameters).toEqual(['<1 sec']);
    expect(d.templateId).toBe(c.templateId);
    expect(d.template).toBe('session closed, sent <*>, lifetime <*>');
  });

  it('merges a longer template into a newer shorter one that covers it, keeping the older id', () => {
    const m = new TemplateMiner();
    const long = m.add('closed after <1 sec');
    const short = m.add('closed after 00:02');
    expect(short.templateId).toBe(long.templateId);
    expect(short.template).toBe('closed after <*>');
    expect(short.changed).toBe(true);
    const gone = m.templates().filter((t) => t.mergedInto !== undefined);
    expect(gone).toHaveLength(1);
    expect(gone[0]?.mergedInto).toBe(long.templateId);
  });

  it('does not let a wildcard swallow constant words of another event', () => {
    const m = new TemplateMiner();
    const a = m.add('Failed password for root from 10.0.0.1 port 22 ssh2');
    const b = m.add('Failed password for invalid user bob from 10.0.0.1 port 22 ssh2');
    expect(b.templateId).not.toBe(a.templateId);
  });

  it('tracks first and last seen when given a time', () => {
    const m = new TemplateMiner();
    const { templateId } = m.add('tick 1', { ts: 2000 });
    m.add('tick 2', { ts: 1000 });
    m.add('tick 3', { ts: 3000 });
    expect(m.get(templateId)).toMatchObject({ firstSeen: 1000, lastSeen: 3000, count: 3 });
  });

  it('gives the same answers with and without its caches', () => {
    const lines = [
      'GET /users/1 200 in 3ms',
      'GET /users/2 200 in 4ms',
      'worker alpha started',
      'worker beta started',
      'GET /users/1 200 in 3ms',
      'worker gamma started',
      'worker alpha started',
      'job 7 done',
    ];
    const a = new TemplateMiner();
    const b = new TemplateMiner({ cacheSize: 0 });
    for (const line of [...lines, ...lines]) {
      const x = a.add(line);
      const y = b.add(line);
      expect([x.templateId, x.template]).toEqual([y.templateId, y.template]);
    }
  });

  it('assigns every message to a template that covers it (property)', () => {
    const word = fc.constantFrom(
      'alpha',
      'beta',
      'gamma',
      'user',
      'failed',
      'ok',
      'GET',
      'to',
      'x=1',
      '42',
      '10.0.0.1',
    );
    fc.assert(
      fc.property(fc.array(fc.array(word, { minLength: 1, maxLength: 7 }), { minLength: 1, maxLength: 40 }), (msgs) => {
        const m = new TemplateMiner();
        const ids = msgs.map((w) => m.add(w.join(' ')).templateId);
        msgs.forEach((w, i) => {
          const live = m.get(ids[i] as number);
          expect(live).toBeDefined();
          expect(m.parametersOf(w.join(' '), live?.id as number)).toBeDefined();
        });
        const total = m
          .templates()
          .filter((t) => t.mergedInto === undefined)
          .reduce((s, t) => s + t.count, 0);
        expect(total).toBe(msgs.length);
      }),
      { numRuns: 150 },
    );
  });
});

describe('TemplateMiner.match', () => {
  it('finds the template without learning', () => {
    const m = new TemplateMiner();
    const { templateId } = m.add('order 1 shipped to Berlin');
    m.add('order 2 shipped to Paris');
    m.add('order 4 shipped to Madrid');
    m.add('order 5 shipped to Oslo');
    const before = m.templates();
    const hit = m.match('order 3 shipped to Rome');
    expect(hit?.templateId).toBe(templateId);
    expect(hit?.parameters).toEqual(['3', 'Rome']);
    expect(m.match('something else entirely')).toBeUndefined();
    expect(m.templates()).toEqual(before);
  });

  it('does not match a message that would need generalising', () => {
    const m = new TemplateMiner();
    m.add('cache warm for region east now');
    expect(m.match('cache warm for region west now')).toBeUndefined();
  });
});

describe('TemplateMiner with stack frames', () => {
  const site = (file: string, fn: string, line: number) =>
    `Error: x\n    at ${fn} (/srv/app/${file}:${line}:5)\n    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`;

  it('makes two patterns for one message thrown from two code sites', () => {
    const m = new TemplateMiner();
    const a = m.add('user not found', { frames: [site('src/users.ts', 'getUser', 10)] });
    const b = m.add('user not found', { frames: [site('src/orders.ts', 'loadOrder', 20)] });
    expect(b.templateId).not.toBe(a.templateId);
    expect(m.get(a.templateId)?.fingerprint).not.toBe(m.get(b.templateId)?.fingerprint);
  });

  it('makes one pattern for messages that differ in ids from one site, even when lines move', () => {
    const m = new TemplateMiner();
    const a = m.add('user 41 not found', { frames: [site('src/users.ts', 'getUser', 10)] });
    const b = m.add('user 42 not found', { frames: [site('src/users.ts', 'getUser', 12)] });
    expect(b.templateId).toBe(a.templateId);
    expect(m.get(a.templateId)?.fingerprint).toMatch(/^[0-9a-f]{8}$/);
  });

  it('treats a stack with only library frames like no stack', () => {
    const m = new TemplateMiner();
    const a = m.add('socket hang up');
    const b = m.add('socket hang up', { frames: ['    at TLSSocket.emit (node:events:519:28)'] });
    expect(b.templateId).toBe(a.templateId);
  });
});

describe('alignment helpers', () => {
  it('covers same-length token lists', () => {
    expect(covers(['a', '<*>', '(<*>).'], ['a', 'b', '(3).'])).toBe(true);
    expect(covers(['a', 'b'], ['a', 'c'])).toBe(false);
  });

  it('lets a wildcard take several mostly variable tokens', () => {
    expect(flexCovers(['took', '<*>'], ['took', '<<*>', 'sec'])).toBe(true);
    expect(flexCovers(['for', '<*>', 'from'], ['for', 'invalid', 'user', '<*>', 'from'])).toBe(false);
    expect(flexCovers(['a', 'b'], ['a', 'b', 'c'])).toBe(false);
  });
});
