/**
 * Tool names the consultation agent is offered or refused (no SDK import, so the CLI stays light).
 */

/** Built-in tools the agent may use (Bash only when commands are allowed). */
export const AGENT_TOOLS = ['Read', 'Grep', 'Glob', 'Edit', 'Write', 'Bash'] as const;

/** Built-in tools removed from the model's list, whatever the defaults of the Claude Code release. */
export const DISALLOWED_TOOLS = [
  'Agent',
  'Task',
  'WebFetch',
  'WebSearch',
  'NotebookEdit',
  'Skill',
  'Workflow',
  'ScheduleWakeup',
  'ListAgents',
  'ReportFindings',
  'CronCreate',
  'CronDelete',
  'CronList',
  'Monitor',
  'KillShell',
  'TodoWrite',
  'ExitPlanMode',
  'AskUserQuestion',
] as const;

/** Name of the in-process MCP server; tools appear to the model as `mcp__dancer__<name>`. */
export const MCP_SERVER_NAME = 'dancer';
