/**
 * Render `docs/configuration.md` from the JSON Schema of `dancer.yaml` (itself generated from the
 * zod schema in `src/config/schema/`), so the reference lists every key, its type, default and
 * description exactly as the code validates them. Pure: a schema in, Markdown out.
 */

/** The subset of JSON Schema that `z.toJSONSchema` emits for Dancer's config. */
export interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  additionalProperties?: boolean | JsonSchemaNode;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
}

/** One documented key: its dotted path and what a user may write there. */
export interface ConfigKeyDoc {
  path: string;
  type: string;
  default: string;
  required: boolean;
  description: string;
}

// One line above each section's table; the keys' own descriptions come from the schema.
const SECTION_INTROS: Record<string, string> = {
  service:
    'The program `dancer run` supervises: how to start, build and test it, its sockets, readiness and restarts. Needed by `run`, `status`, `reload`, `deploy`, `rollback`, `stop`, `init`. See [supervisor.md](supervisor.md).',
  store:
    'Where the SQLite database lives, how long records are kept, and how writes are batched. See [store.md](store.md).',
  capture: 'How log lines are parsed, bounded and queued. See [capture.md](capture.md).',
  patterns:
    'Template mining, masks and the trigger rules that decide when a pattern deserves a consultation. See [patterns-miner.md](patterns-miner.md) and [patterns-triggers.md](patterns-triggers.md).',
  consult:
    "How Claude is consulted: model, budgets, redaction, the agent's tools. See [consultation.md](consultation.md).",
  fixes: 'Git worktrees, the gate (build and tests) and repair rounds. See [fixes.md](fixes.md).',
  policy: 'What a fix may change, and when it may deploy without a human. See [fixes.md](fixes.md).',
  notify:
    'Where Dancer reports and takes commands (Zulip), and signed webhooks. See [zulip.md](zulip.md) and [dashboard.md](dashboard.md).',
  dashboard: 'The web dashboard (`dancer dashboard`, or inside `dancer run`). See [dashboard.md](dashboard.md).',
  fleet:
    'Many hosts, one PostgreSQL control plane: one consultation per pattern, canary-first rollout in waves. Without this section nothing changes. See [fleet.md](fleet.md).',
};

const SAFE_INT = 9007199254740991;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
}

function literal(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function rangeOf(node: JsonSchemaNode): string {
  const low =
    node.exclusiveMinimum !== undefined
      ? `> ${node.exclusiveMinimum}`
      : node.minimum !== undefined && node.minimum > -SAFE_INT
        ? `≥ ${node.minimum}`
        : '';
  const high =
    node.exclusiveMaximum !== undefined
      ? `< ${node.exclusiveMaximum}`
      : node.maximum !== undefined && node.maximum < SAFE_INT
        ? `≤ ${node.maximum}`
        : '';
  const parts = [low, high].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** A short, readable type for a schema node: `integer (≥ 1)`, `"socket" | "port"`, `string[]`, `map of string`. */
export function typeOf(node: JsonSchemaNode): string {
  if (node.const !== undefined) return literal(node.const);
  if (node.enum) return node.enum.map(literal).join(' | ');
  const alternatives = node.anyOf ?? node.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' | ');
  const type = Array.isArray(node.type) ? node.type.join(' | ') : node.type;
  if (type === 'array') {
    const item = node.items ? typeOf(node.items) : 'any';
    return item.includes(' ') ? `(${item})[]` : `${item}[]`;
  }
  if (type === 'object') {
    if (node.properties) return 'object';
    if (typeof node.additionalProperties === 'object') return `map of ${typeOf(node.additionalProperties)}`;
    return 'object';
  }
  if (type === 'integer' || type === 'number') return `${type}${rangeOf(node)}`;
  if (type === 'string' && node.minLength !== undefined && node.minLength > 0) return 'string (non-empty)';
  return type ?? 'any';
}

function isObjectWithKeys(
  node: JsonSchemaNode | undefined,
): node is JsonSchemaNode & { properties: Record<string, JsonSchemaNode> } {
  return node?.properties !== undefined && Object.keys(node.properties).length > 0;
}

/**
 * Every key under `node`, depth first in schema order, as dotted paths (`[]` marks the items of
 * a list). Objects with keys are listed too, so their description and presence are documented.
 */
export function configKeys(node: JsonSchemaNode, prefix = ''): ConfigKeyDoc[] {
  const out: ConfigKeyDoc[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const hasDefault = child.default !== undefined;
    out.push({
      path,
      type: typeOf(child),
      default: hasDefault ? literal(child.default) : '',
      required: (node.required ?? []).includes(key) && !hasDefault,
      description: child.description ?? '',
    });
    if (isObjectWithKeys(child)) out.push(...configKeys(child, path));
    else if (child.items && isObjectWithKeys(child.items)) out.push(...configKeys(child.items, `${path}[]`));
    else if (typeof child.additionalProperties === 'object' && isObjectWithKeys(child.additionalProperties)) {
      out.push(...configKeys(child.additionalProperties, `${path}.<name>`));
    }
  }
  return out;
}

/** The whole `docs/configuration.md` for the JSON Schema of `dancer.yaml`. */
export function renderConfigDocs(schema: JsonSchemaNode): string {
  const lines: string[] = [
    '# Configuration reference (`dancer.yaml`)',
    '',
    '<!-- Generated by `npm run docs:config` from the zod schema in src/config/schema/. Do not edit by hand:',
    '     change the schema (its `.describe()` texts and defaults), then regenerate. A test checks this file is current. -->',
    '',
    'Dancer reads `dancer.yaml` from the working directory, or the file given with `--config PATH`.',
    'Every key is optional unless marked **required**; defaults apply to anything left out. Paths are',
    'relative to the config file. Secrets never go in the file: keys such as `apiKeyEnv` name an',
    'environment variable to read instead. Unknown keys are an error (`DANCER_CONFIG_INVALID`, with the',
    'file, line and key). Editors can complete keys with the JSON Schema in',
    '[`dancer.schema.json`](dancer.schema.json): add',
    '`# yaml-language-server: $schema=./node_modules/dancer/docs/dancer.schema.json` at the top of the file.',
    '',
    'In the tables, `a.b` is key `b` inside the mapping `a`, `a[]` is each item of the list `a`, and',
    '`a.<name>` is each entry of a mapping whose keys you choose.',
    '',
    '## Sections',
    '',
  ];
  const sections = Object.entries(schema.properties ?? {});
  for (const [name] of sections) lines.push(`- [\`${name}\`](#${name})`);
  for (const [name, section] of sections) {
    lines.push('', `## ${name}`, '');
    const intro = SECTION_INTROS[name] ?? section.description;
    if (intro) lines.push(intro, '');
    const keys = configKeys(section, name);
    if (keys.length === 0) {
      lines.push(`\`${name}\`: ${typeOf(section)}${section.description ? `. ${section.description}` : ''}`);
      continue;
    }
    lines.push('| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
    for (const key of keys) {
      const dflt = key.required ? '**required**' : key.default ? `\`${cell(key.default)}\`` : '';
      lines.push(`| \`${key.path}\` | ${cell(key.type)} | ${dflt} | ${cell(key.description)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
