import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { loadScenarioFile, readRecording } from '../../src/testing/index.js';
import { scenarioJsonSchema } from '../../src/testing/scenario-schema.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/dancer.js');
const EXAMPLE = path.join(ROOT, 'examples/py-worker/rehearse.scenario.yaml');

describe('dancer model-server', () => {
  it('docs/scenario.schema.json is current (npm run schema) and the worked example is a valid scenario', () => {
    const onDisk = JSON.parse(readFileSync(path.join(ROOT, 'docs/scenario.schema.json'), 'utf8'));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(scenarioJsonSchema())));
    const scenario = loadScenarioFile(EXAMPLE);
    expect(scenario.turns).toHaveLength(5);
  });

  it('serves the scenario on --port, records every request, stops on SIGTERM', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dancer-model-server-'));
    const record = path.join(dir, 'requests.jsonl');
    const child = spawn(process.execPath, [BIN, 'model-server', '--scenario', EXAMPLE, '--record', record, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let json = '';
      for await (const line of createInterface({ input: child.stdout })) {
        json += line;
        if (line === '}') break;
      }
      const info = JSON.parse(json) as { url: string; port: number; record: string };
      expect(info.record).toBe(record);
      const res = await fetch(`${info.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'test' },
        body: JSON.stringify({
          model: 'claude-test',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'fix the worker' }],
        }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { content: Array<{ type: string; name?: string; text?: string }> };
      expect(body.content[0]?.text).toMatch(/ZeroDivisionError/);
      expect(body.content.find((b) => b.type === 'tool_use')?.name).toBe('Read');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/1 requests, 0 unexpected/);
      const recorded = readRecording(record);
      expect(recorded).toHaveLength(1);
      expect(recorded[0]?.headers['x-api-key']).toBe('[redacted]');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad scenario is a coded usage error', async () => {
    const child = spawn(process.execPath, [BIN, 'model-server', '--scenario', path.join(ROOT, 'package.json')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/DANCER_USAGE: Invalid scenario/);
  });
});
