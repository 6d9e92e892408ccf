import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LoadedConfig, loadConfig } from '../../src/config/index.js';

/** Validate a dancer.yaml text with the real loader (through a temp file). */
export function loadConfigText(yaml: string): LoadedConfig {
  const dir = mkdtempSync(path.join(tmpdir(), 'dancer-init-'));
  try {
    writeFileSync(path.join(dir, 'dancer.yaml'), yaml);
    return loadConfig({ file: path.join(dir, 'dancer.yaml') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
