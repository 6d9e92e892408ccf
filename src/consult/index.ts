/**
 * The consultation stage: brief, redaction, Claude Code through the Agent SDK in a worktree,
 * tools over the store, ledger and budgets, manual bundles. Other stages import from here only.
 */
export {
  type AgentRunOptions,
  type AgentRunResult,
  type AgentStop,
  preloadAgentSdk,
  runAgent,
} from './agent-runner.js';
export { type Brief, type BriefInput, buildBrief, diverseSample, templateParams } from './brief.js';
export { type AssembledBrief, assembleBrief, type BriefSection, type SectionReport } from './brief-assemble.js';
export { decideMode, type ManualReason, type ModeDecision, runLimits } from './budget.js';
export { type Bundle, type BundleInput, writeBundle } from './bundle.js';
export {
  briefFor,
  type ConsultationResult,
  type ConsultationUsage,
  consultSetup,
  type RunConsultationOptions,
  runConsultation,
} from './consultation.js';
export { agentEnv } from './env.js';
export {
  type AgentBrief,
  type AgentRepair,
  createFixAgent,
  type FixAgentOptions,
  type FixAgentOutcome,
  fixContext,
} from './fix-agent.js';
export { firstMatch, matchesGlob } from './glob.js';
export { commandAllowed, decideToolUse, type GuardDecision, type GuardPolicy, matchesAny } from './guard.js';
export { answerFromFile, type HookInput, readGuardFile } from './guard-hook.js';
export {
  checkOutcome,
  type Outcome,
  type OutcomeKind,
  outcomeSchema,
  submitOutcomeShape,
} from './outcome.js';
export { SUBMIT_OUTCOME_TOOL, systemPrompt } from './prompts.js';
export { createRedactor, placeholder, quoteUntrusted, type RedactOptions, type Redactor, redact } from './redact.js';
export {
  allConsultations,
  type ConsultationRow,
  consultationCount,
  consultationsCreatedBetween,
  finishConsultation,
  getConsultation,
  getLedger,
  hasConsultTables,
  type LedgerEntry,
  ledgerCostBetween,
  listConsultations,
  readTranscript,
  runningConsultation,
  spendSince,
} from './store.js';
export { estimateTokens } from './tokens.js';
export { AGENT_TOOLS, DISALLOWED_TOOLS, MCP_SERVER_NAME } from './tool-names.js';
export {
  MAX_TOOL_CHARS,
  runStoreTool,
  STORE_TOOLS,
  type StoreTool,
  type ToolContext,
  type ToolResult,
} from './tools/definitions.js';
export { STORE_TOOL_NAMES, sdkStoreTools } from './tools/sdk.js';
export type { ConsultPolicy, ConsultReads, ConsultTrigger } from './types.js';
