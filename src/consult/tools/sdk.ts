/**
 * The store tools as in-process MCP tools for the Agent SDK (served to the consultation agent as
 * `mcp__dancer__<name>`).
 */
import type { SdkMcpToolDefinition } from '@anthropic-ai/claude-agent-sdk';
import type { Db } from '../../store/index.js';
import type { Redactor } from '../redact.js';
import type { ConsultReads } from '../types.js';
import { runStoreTool, STORE_TOOLS } from './definitions.js';
import type { ToolScope } from './scope.js';

/** Names of the store tools (without the `mcp__dancer__` prefix). */
export const STORE_TOOL_NAMES: readonly string[] = STORE_TOOLS.map((t) => t.name);

/**
 * The store tools bound to a database (and a consultation's scope), for `createSdkMcpServer`.
 * Async because it loads the Agent SDK on first use (importing the consult face must not).
 */
export async function sdkStoreTools(
  db: Db,
  redactor: Redactor,
  now: () => number = Date.now,
  scope?: ToolScope,
  reads?: ConsultReads,
  // biome-ignore lint/suspicious/noExplicitAny: tools of different shapes share one list.
): Promise<SdkMcpToolDefinition<any>[]> {
  const { tool } = await import('@anthropic-ai/claude-agent-sdk');
  return STORE_TOOLS.map((t) =>
    tool(
      t.name,
      t.description,
      t.shape,
      async (args) => {
        const result = runStoreTool(t, { db, redactor, now, scope, reads }, args);
        return { content: [{ type: 'text', text: result.text }], ...(result.isError ? { isError: true } : {}) };
      },
      { annotations: { title: t.title, readOnlyHint: true, openWorldHint: false } },
    ),
  );
}
