import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Yaml from 'yaml';
import type { z } from 'zod';
import { CONFIG_FILE_NAMES } from '../defaults.js';
import { DancerError } from '../errors.js';
import { configSchema, type DancerConfig } from './schema/index.js';

/** Config file names looked for in the working directory, in order. */
/**
 * The YAML parser, loaded on first use: a command run without a dancer.yaml (`dancer mine` on a
 * file, say) then never pays for loading it (about a tenth of a CPU-second of start-up).
 */
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlModule;
}

export { CONFIG_FILE_NAMES };

/** A validated config and where it came from. */
export interface LoadedConfig {
  /** The validated config with defaults applied. Paths are as written; use {@link LoadedConfig.resolve}. */
  config: DancerConfig;
  /** Absolute path of the file, or undefined when the built-in defaults are used. */
  file: string | undefined;
  /** Folder relative paths in the config are resolved against. */
  dir: string;
  /** Resolve a path from the config against {@link LoadedConfig.dir}. */
  resolve(p: string): string;
}

/** One problem found in a config file, with its position. */
export interface ConfigProblem {
  key: string;
  message: string;
  line: number | undefined;
  column: number | undefined;
}

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Explicit file (`--config`). When given it must exist. */
  file?: string | undefined;
  /** Where to look for `dancer.yaml` when no file is given. Default: `process.cwd()`. */
  cwd?: string;
  /** When no file is given and none is found: use defaults (true) or fail (false). Default true. */
  allowMissing?: boolean;
}

/**
 * Find, parse and validate `dancer.yaml`.
 *
 * @throws {DancerError} `DANCER_CONFIG_NOT_FOUND` when an explicit file is missing (or none is
 * found and `allowMissing` is false); `DANCER_CONFIG_INVALID` naming the file, line and key.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  let file: string | undefined;
  if (options.file !== undefined) {
    file = path.resolve(cwd, options.file);
    if (!existsSync(file)) {
      throw new DancerError('DANCER_CONFIG_NOT_FOUND', `Config file not found: ${file}`, { details: { file } });
    }
  } else {
    file = CONFIG_FILE_NAMES.map((name) => path.join(cwd, name)).find((candidate) => existsSync(candidate));
    if (file === undefined && options.allowMissing === false) {
      throw new DancerError('DANCER_CONFIG_NOT_FOUND', `No dancer.yaml in ${cwd}; pass --config FILE.`, {
        details: { cwd },
      });
    }
  }
  if (file === undefined) return makeLoaded(defaultConfig(), undefined, cwd);
  const text = readFileSync(file, 'utf8');
  return makeLoaded(parseConfigText(text, file), file, path.dirname(file));
}

function makeLoaded(config: DancerConfig, file: string | undefined, dir: string): LoadedConfig {
  return { config, file, dir, resolve: (p) => path.resolve(dir, p) };
}

/**
 * Parse and validate config text. `source` names the file in error messages.
 *
 * @throws {DancerError} `DANCER_CONFIG_INVALID` with `details.problems` ({@link ConfigProblem}[]).
 */
export function parseConfigText(text: string, source: string): DancerConfig {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const problems: ConfigProblem[] = doc.errors.map((error) => {
      const pos = lineCounter.linePos(error.pos[0]);
      return { key: '', message: error.message.split('\n')[0] ?? error.message, line: pos.line, column: pos.col };
    });
    throw invalid(source, problems);
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => locateIssue(issue, doc, lineCounter));
  throw invalid(source, problems);
}

/** The config of an empty file (what `parseConfigText('{}')` gives), without the YAML parser. */
function defaultConfig(): DancerConfig {
  const result = configSchema.safeParse({});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    key: issue.path.map(String).join('.'),
    message: issue.message,
    line: undefined,
    column: undefined,
  }));
  throw invalid('<defaults>', problems);
}

function locateIssue(issue: z.core.$ZodIssue, doc: Yaml.Document, lines: Yaml.LineCounter): ConfigProblem {
  const { isNode } = yaml();
  const keyPath = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
  let key = keyPath.join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) {
    key = [...keyPath, issue.keys[0]].join('.');
  }
  // Walk down to the deepest node that exists, so a missing key points at its parent.
  for (let depth = keyPath.length; depth >= 0; depth--) {
    const target = depth === 0 ? doc.contents : doc.getIn(keyPath.slice(0, depth), true);
    if (isNode(target) && target.range) {
      let offset = target.range[0];
      if (issue.code === 'unrecognized_keys' && depth === keyPath.length) {
        const unknownKeyOffset = findKeyOffset(target, issue.keys[0]);
        if (unknownKeyOffset !== undefined) offset = unknownKeyOffset;
      }
      const pos = lines.linePos(offset);
      return { key, message: issue.message, line: pos.line, column: pos.col };
    }
  }
  return { key, message: issue.message, line: undefined, column: undefined };
}

function findKeyOffset(node: unknown, key: string | undefined): number | undefined {
  const { isNode } = yaml();
  if (key === undefined || typeof node !== 'object' || node === null || !('items' in node)) return undefined;
  const items = (node as { items: Array<{ key?: unknown }> }).items;
  for (const item of items) {
    const k = item.key;
    if (isNode(k) && k.range && 'value' in k && (k as { value: unknown }).value === key) return k.range[0];
  }
  return undefined;
}

function invalid(source: string, problems: ConfigProblem[]): DancerError {
  const lines = problems.map((p) => {
    const where = p.line === undefined ? source : `${source}:${p.line}:${p.column ?? 1}`;
    return `${where}: ${p.key ? `${p.key}: ` : ''}${p.message}`;
  });
  return new DancerError('DANCER_CONFIG_INVALID', `Invalid config:\n${lines.join('\n')}`, {
    details: { file: source, problems },
  });
}

/**
 * Read a secret from the environment variable named in the config.
 *
 * @throws {DancerError} `DANCER_CONFIG_ENV_MISSING` when the variable is unset or empty.
 */
export function readSecretFromEnv(variable: string, purpose: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[variable];
  if (value === undefined || value === '') {
    throw new DancerError('DANCER_CONFIG_ENV_MISSING', `${purpose}: environment variable ${variable} is not set.`, {
      details: { variable },
    });
  }
  return value;
}
