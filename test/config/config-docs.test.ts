import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeys, type JsonSchemaNode, renderConfigDocs, typeOf } from '../../src/config/config-docs.js';
import { configJsonSchema } from '../../src/config/json-schema.js';

const schema = configJsonSchema() as JsonSchemaNode;

describe('docs/configuration.md', () => {
  it('is current (run `npm run docs:config` to update)', () => {
    const onDisk = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(onDisk).toBe(renderConfigDocs(schema));
  });

  it('lists every key of every section with its default', () => {
    const doc = renderConfigDocs(schema);
    const keys = configKeys(schema).filter((key) => key.path.includes('.')); // sections are headings
    expect(keys.length).toBeGreaterThan(50);
    for (const key of keys) expect(doc).toContain(`| \`${key.path}\` |`);
    // Spot checks against the store section's schema.
    expect(doc).toContain(
      '| `store.path` | string | `".dancer/dancer.db"` | SQLite database file, relative to the config file. |',
    );
    expect(doc).toMatch(/\| `store\.retention\.stepRows` \| integer \(> 0\) \| `1000` \|/);
  });
});

describe('renderer', () => {
  it('renders types readably', () => {
    expect(typeOf({ type: 'string', enum: ['socket', 'port'] })).toBe('"socket" | "port"');
    expect(typeOf({ type: 'integer', minimum: 0, maximum: 65535 })).toBe('integer (≥ 0, ≤ 65535)');
    expect(typeOf({ type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 })).toBe('integer');
    expect(typeOf({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } })).toBe(
      '(string | integer)[]',
    );
    expect(typeOf({ type: 'object', additionalProperties: { type: 'string' } })).toBe('map of string');
  });

  it('walks nested objects and list items, marks required keys, escapes pipes', () => {
    const doc = renderConfigDocs({
      type: 'object',
      properties: {
        svc: {
          type: 'object',
          required: ['start'],
          properties: {
            start: { type: 'string', description: 'a | b' },
            listen: {
              type: 'array',
              default: [],
              items: { type: 'object', properties: { port: { type: 'integer' } } },
            },
          },
        },
      },
    });
    expect(doc).toContain('| `svc.start` | string | **required** | a \\| b |');
    expect(doc).toContain('| `svc.listen` | object[] | `[]` |  |');
    expect(doc).toContain('| `svc.listen[].port` | integer |  |  |');
  });
});
