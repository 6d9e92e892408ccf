/**
 * Scenarios for the scripted model server: which assistant turns to play back, chosen by a pure
 * function of the incoming request (never by a call counter, see docs/consultation.md).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DancerError } from '../errors.js';

/** Usage numbers reported for one turn (Claude Code prices turns from these). */
export const usageSchema = z
  .object({
    input_tokens: z.number().int().nonnegative().default(1000),
    output_tokens: z.number().int().nonnegative().default(50),
    cache_creation_input_tokens: z.number().int().nonnegative().default(0),
    cache_read_input_tokens: z.number().int().nonnegative().default(0),
  })
  .strict();

/** Conditions on the incoming request; every given condition must hold. */
export const matcherSchema = z
  .object({
    /** The last tool_result in the request contains this text. */
    lastToolResultContains: z.string().optional(),
    /** The last tool_result in the request does not contain this text. */
    lastToolResultNotContains: z.string().optional(),
    /** The last tool_result's `is_error` equals this. */
    lastToolResultIsError: z.boolean().optional(),
    /** Some text of the first user message (the prompt) contains this. */
    promptContains: z.string().optional(),
    /** The system prompt contains this. */
    systemContains: z.string().optional(),
    /** The whole JSON body contains this text. */
    bodyContains: z.string().optional(),
    /** Every one of these tool names is offered in `tools`. */
    toolsInclude: z.array(z.string()).optional(),
  })
  .strict();

const textBlockSchema = z.object({ type: z.literal('text'), text: z.string() }).strict();
const toolUseBlockSchema = z
  .object({
    type: z.literal('tool_use'),
    name: z.string().min(1),
    input: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** A content block of a scripted reply. Tool-use ids are generated, unique per block. */
export const blockSchema = z.discriminatedUnion('type', [textBlockSchema, toolUseBlockSchema]);

/** A failure to inject on the first `times` attempts at a turn (Claude Code retries with the same history). */
export const faultSchema = z
  .object({
    status: z.number().int().min(400).max(599),
    /** Seconds, sent as `retry-after`. */
    retryAfter: z.number().nonnegative().optional(),
    times: z.number().int().positive().default(1),
    message: z.string().optional(),
  })
  .strict();

/** One scripted assistant reply. */
export const turnSchema = z
  .object({
    /** Chosen only when the request matches (within a `oneOf`). */
    when: matcherSchema.optional(),
    /** Shorthand for a single text block. */
    text: z.string().optional(),
    /** Shorthand for tool calls after `text`: `{ name, input }`. */
    tools: z
      .array(z.object({ name: z.string().min(1), input: z.record(z.string(), z.unknown()).default({}) }))
      .optional(),
    /** Full control over the blocks (used instead of text/tools when given). */
    content: z.array(blockSchema).optional(),
    stopReason: z.enum(['end_turn', 'tool_use', 'max_tokens', 'stop_sequence']).optional(),
    usage: usageSchema.optional(),
    /** Reply with an error status instead, on the first `times` attempts. */
    fault: faultSchema.optional(),
    /** Milliseconds to wait between SSE events (a slow stream). */
    delayMs: z.number().int().nonnegative().optional(),
    /** Destroy the connection after this many SSE events, on the first `cutTimes` attempts. */
    cutAfterEvents: z.number().int().nonnegative().optional(),
    cutTimes: z.number().int().positive().default(1),
  })
  .strict();

/** A slot in the script: one turn, or alternatives chosen by their `when` matchers (first match wins). */
export const slotSchema = z.union([turnSchema, z.object({ oneOf: z.array(turnSchema).min(1) }).strict()]);

/** A whole scenario. */
export const scenarioSchema = z
  .object({
    /** Model id echoed in replies. Default: the request's `model`. */
    model: z.string().optional(),
    /** Default usage per turn (merged under each turn's own). */
    usage: usageSchema.partial().optional(),
    /** Main-loop turns: the reply to a request with k assistant messages is `turns[k]`. */
    turns: z.array(slotSchema),
    /** Turns for subagent requests (header `x-claude-code-agent-id`), indexed the same way. */
    subagentTurns: z.array(slotSchema).default([]),
  })
  .strict();

/** A scripted turn (parsed). */
export type ScriptedTurn = z.infer<typeof turnSchema>;
/** A scenario (parsed, defaults applied). */
export type Scenario = z.infer<typeof scenarioSchema>;
/** A scenario as written (before defaults). */
export type ScenarioInput = z.input<typeof scenarioSchema>;
/** A request matcher. */
export type TurnMatcher = z.infer<typeof matcherSchema>;
/** Usage numbers of one turn. */
export type TurnUsage = z.infer<typeof usageSchema>;

/**
 * Validate a scenario object.
 *
 * @throws {DancerError} `DANCER_USAGE` naming the first bad key.
 */
export function parseScenario(input: unknown, source = '<scenario>'): Scenario {
  const result = scenarioSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? issue.path.join('.') : '';
    throw new DancerError('DANCER_USAGE', `Invalid scenario ${source}: ${where ? `${where}: ` : ''}${issue?.message}`, {
      details: { source, issues: result.error.issues },
    });
  }
  return result.data;
}

/** Parse scenario text (YAML or JSON, YAML being a superset). */
export function parseScenarioText(text: string, source = '<scenario>'): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new DancerError('DANCER_USAGE', `Scenario ${source} is not valid YAML/JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseScenario(raw, source);
}

/** Read and parse a scenario file (.yaml, .yml or .json). */
export function loadScenarioFile(file: string): Scenario {
  return parseScenarioText(readFileSync(file, 'utf8'), file);
}

// ---------------------------------------------------------------------------------------------
// Pure request inspection and turn selection

/** The parts of a Messages API request body the server looks at. */
export interface MessagesRequestBody {
  model?: string;
  messages?: Array<{ role: string; content: unknown }>;
  system?: unknown;
  tools?: Array<{ name: string }>;
  stream?: boolean;
  output_config?: { format?: unknown };
  [key: string]: unknown;
}

/** A tool_result block as found in a request. */
export interface ToolResultBlock {
  tool_use_id: string;
  is_error?: boolean;
  content: unknown;
}

/** Number of `role: "assistant"` messages: the index of the turn to play (system messages don't count). */
export function turnIndex(body: MessagesRequestBody): number {
  return (body.messages ?? []).filter((m) => m.role === 'assistant').length;
}

/** Every tool_result block in the request, in order. */
export function toolResults(body: MessagesRequestBody): ToolResultBlock[] {
  const out: ToolResultBlock[] = [];
  for (const message of body.messages ?? []) {
    if (message.role !== 'user' || !Array.isArray(message.content)) continue;
    for (const block of message.content as Array<{ type?: string }>) {
      if (block?.type === 'tool_result') out.push(block as unknown as ToolResultBlock);
    }
  }
  return out;
}

/** Plain text of a tool_result's content (a string, or an array of text blocks). */
export function toolResultText(result: ToolResultBlock): string {
  return contentText(result.content);
}

/** Plain text of message content (string or blocks). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b: { type?: string; text?: string; content?: unknown }) => {
      if (b?.type === 'text' && typeof b.text === 'string') return b.text;
      if (b?.type === 'tool_result') return contentText(b.content);
      return '';
    })
    .join('\n');
}

/** Text of the system prompt (string or blocks). */
export function systemText(body: MessagesRequestBody): string {
  return contentText(body.system);
}

/** Text of the first user message (the prompt and any reminders). */
export function promptText(body: MessagesRequestBody): string {
  const first = (body.messages ?? []).find((m) => m.role === 'user');
  return first ? contentText(first.content) : '';
}

/** True when `body` satisfies every condition of `matcher`. */
export function matches(matcher: TurnMatcher | undefined, body: MessagesRequestBody, rawBody: string): boolean {
  if (!matcher) return true;
  const results = toolResults(body);
  const last = results[results.length - 1];
  const lastText = last ? toolResultText(last) : '';
  if (matcher.lastToolResultContains !== undefined) {
    if (!last || !lastText.includes(matcher.lastToolResultContains)) return false;
  }
  if (matcher.lastToolResultNotContains !== undefined && lastText.includes(matcher.lastToolResultNotContains)) {
    return false;
  }
  if (matcher.lastToolResultIsError !== undefined && Boolean(last?.is_error) !== matcher.lastToolResultIsError) {
    return false;
  }
  if (matcher.promptContains !== undefined && !promptText(body).includes(matcher.promptContains)) return false;
  if (matcher.systemContains !== undefined && !systemText(body).includes(matcher.systemContains)) return false;
  if (matcher.bodyContains !== undefined && !rawBody.includes(matcher.bodyContains)) return false;
  if (matcher.toolsInclude !== undefined) {
    const offered = new Set((body.tools ?? []).map((t) => t.name));
    if (!matcher.toolsInclude.every((name) => offered.has(name))) return false;
  }
  return true;
}

/** What {@link selectTurn} decided. */
export type TurnChoice =
  | { kind: 'turn'; k: number; turn: ScriptedTurn; alternative: number }
  | { kind: 'exhausted'; k: number }
  | { kind: 'no-match'; k: number };

/** Pick the scripted turn for a request: `turns[k]`, k = assistant messages so far; alternatives by matcher. */
export function selectTurn(
  turns: Scenario['turns'],
  body: MessagesRequestBody,
  rawBody: string = JSON.stringify(body),
): TurnChoice {
  const k = turnIndex(body);
  const slot = turns[k];
  if (slot === undefined) return { kind: 'exhausted', k };
  if ('oneOf' in slot) {
    const index = slot.oneOf.findIndex((t) => matches(t.when, body, rawBody));
    const turn = slot.oneOf[index];
    return turn ? { kind: 'turn', k, turn, alternative: index } : { kind: 'no-match', k };
  }
  if (!matches(slot.when, body, rawBody)) return { kind: 'no-match', k };
  return { kind: 'turn', k, turn: slot, alternative: 0 };
}

/** A content block ready to send, with its generated tool-use id. */
export type ReplyBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: object };

/** The blocks of a turn, with a fresh id per tool_use (ids must be unique across the conversation). */
export function turnBlocks(turn: ScriptedTurn, newId: () => string): ReplyBlock[] {
  if (turn.content) {
    return turn.content.map((b) =>
      b.type === 'text'
        ? { type: 'text', text: b.text }
        : { type: 'tool_use', id: newId(), name: b.name, input: b.input },
    );
  }
  const blocks: ReplyBlock[] = [];
  if (turn.text !== undefined) blocks.push({ type: 'text', text: turn.text });
  for (const t of turn.tools ?? []) blocks.push({ type: 'tool_use', id: newId(), name: t.name, input: t.input });
  if (blocks.length === 0) blocks.push({ type: 'text', text: '' });
  return blocks;
}

/**
 * The agent's working directory as Claude Code states it in the request ("Primary working
 * directory: /path" in its environment message), or undefined when absent.
 */
export function workingDirectory(body: MessagesRequestBody): string | undefined {
  for (const message of body.messages ?? []) {
    const match = /Primary working directory: ([^\n]+)/.exec(contentText(message.content));
    if (match?.[1]) return match[1].trim();
  }
  const system = contentText(body.system);
  return /Primary working directory: ([^\n]+)/.exec(system)?.[1]?.trim();
}

/**
 * Replace `${cwd}` in scripted tool inputs with the agent's working directory, so a scenario can
 * name files in a worktree whose path is only known at run time. Unchanged when `cwd` is unknown.
 */
export function substituteCwd(blocks: ReplyBlock[], cwd: string | undefined): ReplyBlock[] {
  if (cwd === undefined) return blocks;
  const replace = (value: unknown): unknown => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${cwd}` is the scenario's placeholder syntax.
    if (typeof value === 'string') return value.split('${cwd}').join(cwd);
    if (Array.isArray(value)) return value.map(replace);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replace(v)]));
    }
    return value;
  };
  return blocks.map((b) => (b.type === 'tool_use' ? { ...b, input: replace(b.input) as Record<string, unknown> } : b));
}
