import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText, readSecretFromEnv } from '../../src/config/index.js';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { DancerError } from '../../src/errors.js';

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'dancer-config-'));
}

function catchError(fn: () => unknown): DancerError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DancerError) return error;
    throw error;
  }
  throw new Error('expected a DancerError');
}

describe('config loading', () => {
  it('applies defaults when there is no file', () => {
    const loaded = loadConfig({ cwd: tempDir() });
    expect(loaded.file).toBeUndefined();
    expect(loaded.config.store.path).toBe('.dancer/dancer.db');
    expect(loaded.config.capture.maxRecordBytes).toBe(1024 * 1024);
    expect(loaded.config.store.batch.maxRecords).toBeGreaterThan(0);
  });

  it('finds dancer.yaml in the working directory and resolves paths against it', () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'dancer.yaml'),
      'service:\n  name: shop\n  start: node server.js\n  listen:\n    - { name: http, port: 8080 }\nstore: { path: data/x.db }\n',
    );
    const loaded = loadConfig({ cwd: dir });
    expect(loaded.file).toBe(path.join(dir, 'dancer.yaml'));
    expect(loaded.config.service?.name).toBe('shop');
    expect(loaded.config.service?.listen[0]?.host).toBe('127.0.0.1');
    expect(loaded.resolve(loaded.config.store.path)).toBe(path.join(dir, 'data/x.db'));
  });

  it('names the file, line and key of a schema error', () => {
    const error = catchError(() => parseConfigText('store:\n  path: 42\n', '/x/dancer.yaml'));
    expect(error.code).toBe('DANCER_CONFIG_INVALID');
    expect(error.message).toContain('/x/dancer.yaml:2');
    expect(error.message).toContain('store.path');
  });

  it('points at an unknown key by its own line', () => {
    const error = catchError(() => parseConfigText('store:\n  path: a.db\n  bogus: 1\n', 'd.yaml'));
    expect(error.message).toMatch(/d\.yaml:3:\d+: store\.bogus/);
  });

  it('reports YAML syntax errors with a line', () => {
    const error = catchError(() => parseConfigText('store:\n  path: [unclosed\n', 'd.yaml'));
    expect(error.code).toBe('DANCER_CONFIG_INVALID');
    expect(error.message).toMatch(/d\.yaml:\d+:\d+/);
  });

  it('fails clearly when an explicit file is missing', () => {
    const error = catchError(() => loadConfig({ file: '/nonexistent/dancer.yaml' }));
    expect(error.code).toBe('DANCER_CONFIG_NOT_FOUND');
  });

  it('reads secrets only from the named environment variable', () => {
    expect(readSecretFromEnv('K', 'zulip', { K: 'v' })).toBe('v');
    expect(catchError(() => readSecretFromEnv('K', 'zulip', {})).code).toBe('DANCER_CONFIG_ENV_MISSING');
  });

  it('docs/dancer.schema.json is current (run `npm run schema` to update)', () => {
    const onDisk = JSON.parse(readFileSync(new URL('../../docs/dancer.schema.json', import.meta.url), 'utf8'));
    expect(onDisk).toEqual(configJsonSchema());
  });
});
