/**
 * The scripted model's words for the demo: what "Claude" does in each act, as scenarios for the
 * scripted model server (`dancer/testing`). Only the words are scripted: the real Claude Code
 * binary runs them, with its real tools, in the real fix worktree (`${cwd}` is the worktree).
 */
import type { ScenarioInput } from '../testing/index.js';

const SUBMIT = 'mcp__dancer__submit_outcome';

/** The scripted model server replaces this placeholder with the agent's working directory. */
const CWD_PLACEHOLDER = ['$', '{cwd}'].join('');

/** A path inside the fix worktree. */
const inWorktree = (relative: string): string => `${CWD_PLACEHOLDER}/${relative}`;

const OLD_COUPON = `  const coupon = COUPONS[code];
  return Math.round(amountCents * (1 - coupon!.percent / 100));`;

const NEW_COUPON = `  const coupon = COUPONS[code.trim().toUpperCase()];
  if (coupon === undefined) throw new InvalidOrderError(\`unknown coupon \${code}\`);
  return Math.round(amountCents * (1 - coupon.percent / 100));`;

const COUPON_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOrderError, applyCoupon } from '../src/pricing.js';

// Regression test for Dancer's pattern "Cannot read properties of undefined (reading 'percent')".
test('coupon codes are case-insensitive', () => {
  assert.equal(applyCoupon(1000, 'save10'), 900);
  assert.equal(applyCoupon(1000, ' Welcome5 '), 950);
});

test('an unknown coupon is refused as bad input, not a crash', () => {
  assert.throws(() => applyCoupon(1000, 'NOPE'), InvalidOrderError);
});
`;

/** Act one: a correct fix for lowercase coupon codes. */
export function goodFixScenario(): ScenarioInput {
  return {
    turns: [
      {
        text: 'The errors come from applyCoupon when a coupon code is not upper case. Let me read the pricing module.',
        tools: [{ name: 'Read', input: { file_path: inWorktree('src/pricing.ts') } }],
      },
      {
        text: 'COUPONS is keyed by upper-case codes and the lookup is case-sensitive; an unknown code also crashes. I will normalise the code and refuse unknown ones as bad input.',
        tools: [
          {
            name: 'Edit',
            input: { file_path: inWorktree('src/pricing.ts'), old_string: OLD_COUPON, new_string: NEW_COUPON },
          },
        ],
      },
      {
        text: 'Now a regression test that fails on the current code.',
        tools: [{ name: 'Write', input: { file_path: inWorktree('test/coupon-case.test.ts'), content: COUPON_TEST } }],
      },
      {
        text: 'Submitting the fix.',
        tools: [
          {
            name: SUBMIT,
            input: {
              kind: 'fix',
              summary: 'Accept coupon codes in any letter case; refuse unknown codes with 400',
              analysis:
                "Every failing request carries a lower-case coupon (e.g. 'save10'). applyCoupon looks the code up in COUPONS, whose keys are upper case, gets undefined and reads .percent of it: TypeError, answered 500.",
              rootCause:
                'The coupon lookup is case-sensitive and does not handle unknown codes, though customers type codes in any case.',
              filesChanged: ['src/pricing.ts', 'test/coupon-case.test.ts'],
              regressionTest: 'test/coupon-case.test.ts',
              risk: 'low',
              confidence: 0.9,
            },
          },
        ],
      },
      { text: 'Done: the fix and its regression test are in the worktree.' },
    ],
  };
}

const OLD_TOTAL = `      const total = orderTotal(body.items ?? [], body.coupon);`;
const BAD_TOTAL = `      const total = convert(orderTotal(body.items ?? [], body.coupon), body.currency as string);`;
const OLD_CURRENCY_GUARD = `      if (body.currency !== undefined && body.currency !== 'USD') {
        throw new Error(\`unsupported currency \${body.currency}\`);
      }
`;

const CONVERT_FN = `
/** Exchange rates from USD cents. */
const RATES: Record<string, number> = { USD: 1, EUR: 0.92 };

/** Convert an amount in USD cents to \`currency\`. */
export function convert(amountCents: number, currency: string): number {
  return Math.round(amountCents * RATES[currency.toUpperCase()]!);
}
`;

/** The first turn of the EUR scenarios: read the two files they edit. */
const READ_SERVER_AND_PRICING = {
  text: 'EUR orders are refused. Reading the server and the pricing module.',
  tools: [
    { name: 'Read', input: { file_path: inWorktree('src/server.ts') } },
    { name: 'Read', input: { file_path: inWorktree('src/pricing.ts') } },
  ],
};

/** The edit that adds `convert` to the pricing module (shared by the EUR scenarios). */
const ADD_CONVERT_FN = {
  name: 'Edit',
  input: {
    file_path: inWorktree('src/pricing.ts'),
    old_string: '/** Total of an order in cents, after the coupon. */',
    new_string: `${CONVERT_FN.trim()}\n\n/** Total of an order in cents, after the coupon. */`,
  },
};

/**
 * The EUR regression test drives the built service as a user would (the refusal is thrown in the
 * request handler, not in a module a test can import), so on the base commit it fails with the
 * pattern's own error, which the service logs and the assertion message carries.
 */
const CURRENCY_TEST = `import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(\`timed out waiting for \${what}\`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('an order in EUR is answered with its converted total, not refused', async () => {
  const server = spawn(process.execPath, [new URL('../src/server.js', import.meta.url).pathname], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout.on('data', (chunk: Buffer) => (output += chunk));
  server.stderr.on('data', (chunk: Buffer) => (output += chunk));
  try {
    await until('the service to listen', () => /"port":\\d+/.test(output), 10_000);
    const port = Number(/"port":(\\d+)/.exec(output)?.[1]);
    const res = await fetch(\`http://127.0.0.1:\${port}/checkout\`, {
      method: 'POST',
      body: JSON.stringify({ items: [{ sku: 'a', qty: 1, priceCents: 1000 }], currency: 'EUR' }),
    });
    const body = (await res.json()) as { totalCents?: number };
    await until('the request to be logged', () => /checkout ok|checkout failed|rejected order/.test(output), 2_000);
    assert.equal(res.status, 200, \`the service answered \${res.status}; its log:\\n\${output}\`);
    assert.equal(body.totalCents, 920);
  } finally {
    server.kill();
  }
});
`;

/**
 * Act two: a plausible but bad fix for "unsupported currency": it converts every total, and
 * crashes for the (usual) requests that name no currency. Its own test passes; the service's
 * error rate after the deploy rolls it back.
 */
export function badFixScenario(): ScenarioInput {
  return {
    turns: [
      {
        text: 'Orders in EUR are refused with a 500. Let me look at the server and the pricing code.',
        tools: [
          { name: 'Read', input: { file_path: inWorktree('src/server.ts') } },
          { name: 'Read', input: { file_path: inWorktree('src/pricing.ts') } },
        ],
      },
      {
        text: 'I will add currency conversion and use it for every order.',
        tools: [
          ADD_CONVERT_FN,
          {
            name: 'Edit',
            input: { file_path: inWorktree('src/server.ts'), old_string: OLD_CURRENCY_GUARD, new_string: '' },
          },
          {
            name: 'Edit',
            input: { file_path: inWorktree('src/server.ts'), old_string: OLD_TOTAL, new_string: BAD_TOTAL },
          },
          {
            name: 'Edit',
            input: {
              file_path: inWorktree('src/server.ts'),
              old_string: "import { InvalidOrderError, type LineItem, orderTotal } from './pricing.js';",
              new_string: "import { InvalidOrderError, type LineItem, convert, orderTotal } from './pricing.js';",
            },
          },
        ],
      },
      {
        text: 'A regression test for EUR.',
        tools: [{ name: 'Write', input: { file_path: inWorktree('test/currency.test.ts'), content: CURRENCY_TEST } }],
      },
      {
        text: 'Submitting.',
        tools: [
          {
            name: SUBMIT,
            input: {
              kind: 'fix',
              summary: 'Support EUR orders by converting totals',
              analysis: "Requests with currency 'EUR' are refused by a guard in the handler and logged as errors.",
              rootCause: 'The service only knows USD.',
              filesChanged: ['src/pricing.ts', 'src/server.ts', 'test/currency.test.ts'],
              regressionTest: 'test/currency.test.ts',
              risk: 'low',
              confidence: 0.6,
            },
          },
        ],
      },
      { text: 'Done.' },
    ],
  };
}

/** A consultation that reads the pricing module, then judges the pattern expected noise (`ignore`). */
export function ignoreScenario(why: string): ScenarioInput {
  return {
    turns: [
      {
        text: 'Let me read the pricing module first.',
        tools: [{ name: 'Read', input: { file_path: inWorktree('src/pricing.ts') } }],
      },
      { text: 'This is expected.', tools: [{ name: SUBMIT, input: { kind: 'ignore', why } }] },
      { text: 'Done: nothing to change.' },
    ],
  };
}

/** A consultation that reads the server, then hands the pattern to a human (`escalate`). */
export function escalateScenario(why: string, where: string): ScenarioInput {
  return {
    turns: [
      {
        text: 'Let me read the server first.',
        tools: [{ name: 'Read', input: { file_path: inWorktree('src/server.ts') } }],
      },
      { text: 'A human must decide this.', tools: [{ name: SUBMIT, input: { kind: 'escalate', why, where } }] },
      { text: 'Done: escalated.' },
    ],
  };
}

const TYPE_ERROR_LINE = "  const percentLabel: number = 'ten percent';\n";

/**
 * The good coupon fix, first written with a type error so the gate's build fails; in the repair
 * round (the prompt says "Repair round") the agent removes the bad line and submits again.
 */
export function repairScenario(): ScenarioInput {
  const repairing = { promptContains: 'Repair round' };
  const submit = (summary: string) => ({
    name: SUBMIT,
    input: {
      kind: 'fix',
      summary,
      analysis: 'Lower-case coupon codes miss the upper-case COUPONS keys; reading .percent of undefined throws.',
      rootCause: 'The coupon lookup is case-sensitive.',
      filesChanged: ['src/pricing.ts', 'test/coupon-case.test.ts'],
      regressionTest: 'test/coupon-case.test.ts',
      risk: 'low',
      confidence: 0.8,
    },
  });
  const readPricing = { name: 'Read', input: { file_path: inWorktree('src/pricing.ts') } };
  return {
    turns: [
      {
        oneOf: [
          { when: repairing, text: 'The gate failed; reading the pricing module again.', tools: [readPricing] },
          { text: 'Reading the pricing module.', tools: [readPricing] },
        ],
      },
      {
        oneOf: [
          {
            when: repairing,
            text: 'The build failed on a type error I introduced; removing the stray line.',
            tools: [
              {
                name: 'Edit',
                input: { file_path: inWorktree('src/pricing.ts'), old_string: TYPE_ERROR_LINE, new_string: '' },
              },
            ],
          },
          {
            text: 'Fixing the case-sensitive coupon lookup, with a regression test.',
            tools: [
              {
                name: 'Edit',
                input: {
                  file_path: inWorktree('src/pricing.ts'),
                  old_string: OLD_COUPON,
                  new_string: `${TYPE_ERROR_LINE}${NEW_COUPON}`,
                },
              },
              { name: 'Write', input: { file_path: inWorktree('test/coupon-case.test.ts'), content: COUPON_TEST } },
            ],
          },
        ],
      },
      {
        oneOf: [
          { when: repairing, text: 'Submitting the repaired fix.', tools: [submit('Remove the stray type error')] },
          { text: 'Submitting.', tools: [submit('Accept coupon codes in any letter case')] },
        ],
      },
      { text: 'Done.' },
    ],
  };
}

/**
 * A fix for "unsupported currency" whose release crashes at start in production: it requires a
 * RATES_URL there that the service's environment does not set. Its tests pass (they start the
 * server outside production); the new release never gets ready and the deploy rolls back to the
 * release that keeps serving.
 */
export function crashAtStartScenario(): ScenarioInput {
  return {
    turns: [
      READ_SERVER_AND_PRICING,
      {
        text: 'Adding conversion, with rates configured from the environment.',
        tools: [
          ADD_CONVERT_FN,
          {
            name: 'Edit',
            input: {
              file_path: inWorktree('src/server.ts'),
              old_string: "const log = pino({ name: 'checkout' });",
              new_string:
                "const log = pino({ name: 'checkout' });\nif (process.env.NODE_ENV === 'production' && !process.env.RATES_URL) throw new Error('RATES_URL is not set');",
            },
          },
          ...ACCEPT_EUR_EDITS,
          { name: 'Write', input: { file_path: inWorktree('test/currency.test.ts'), content: CURRENCY_TEST } },
        ],
      },
      {
        text: 'Submitting.',
        tools: [
          {
            name: SUBMIT,
            input: {
              kind: 'fix',
              summary: 'Convert EUR totals with configured rates',
              analysis: "Requests with currency 'EUR' are refused by a guard in the handler.",
              rootCause: 'The service only knows USD.',
              filesChanged: ['src/pricing.ts', 'src/server.ts', 'test/currency.test.ts'],
              regressionTest: 'test/currency.test.ts',
              risk: 'low',
              confidence: 0.5,
            },
          },
        ],
      },
      { text: 'Done.' },
    ],
  };
}

const EUR_TOTAL = `      const total = body.currency === undefined ? orderTotal(body.items ?? [], body.coupon) : convert(orderTotal(body.items ?? [], body.coupon), body.currency);`;

/** The handler edits that accept EUR orders and convert their totals (shared by the EUR fixes). */
const ACCEPT_EUR_EDITS = [
  {
    name: 'Edit',
    input: {
      file_path: inWorktree('src/server.ts'),
      old_string: OLD_CURRENCY_GUARD,
      new_string: OLD_CURRENCY_GUARD.replace(
        "body.currency !== 'USD') {\n        throw new Error(",
        "!['USD', 'EUR'].includes(body.currency)) {\n        throw new InvalidOrderError(",
      ),
    },
  },
  {
    name: 'Edit',
    input: { file_path: inWorktree('src/server.ts'), old_string: OLD_TOTAL, new_string: EUR_TOTAL },
  },
  {
    name: 'Edit',
    input: {
      file_path: inWorktree('src/server.ts'),
      old_string: "import { InvalidOrderError, type LineItem, orderTotal } from './pricing.js';",
      new_string: "import { InvalidOrderError, type LineItem, convert, orderTotal } from './pricing.js';",
    },
  },
];

/** A correct fix for "unsupported currency": convert only orders that name a known currency. */
export function goodEurScenario(): ScenarioInput {
  return {
    turns: [
      READ_SERVER_AND_PRICING,
      {
        text: 'Converting totals for orders that name a currency; unknown currencies are bad input.',
        tools: [
          ADD_CONVERT_FN,
          ...ACCEPT_EUR_EDITS,
          { name: 'Write', input: { file_path: inWorktree('test/currency.test.ts'), content: CURRENCY_TEST } },
        ],
      },
      {
        text: 'Submitting.',
        tools: [
          {
            name: SUBMIT,
            input: {
              kind: 'fix',
              summary: 'Accept EUR orders, converting their totals',
              analysis: "Requests with currency 'EUR' are refused by a guard in the handler.",
              rootCause: 'The service only knows USD.',
              filesChanged: ['src/pricing.ts', 'src/server.ts', 'test/currency.test.ts'],
              regressionTest: 'test/currency.test.ts',
              risk: 'low',
              confidence: 0.8,
            },
          },
        ],
      },
      { text: 'Done.' },
    ],
  };
}
