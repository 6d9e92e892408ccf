/**
 * `dancer/testing`: test servers for running Dancer's real loops offline.
 *
 * - {@link startModelServer}: a scripted Anthropic Messages API for the real Claude Code binary.
 */
export {
  EXHAUSTED_TEXT,
  type ModelServer,
  type ModelServerOptions,
  NO_MATCH_TEXT,
  type RecordedAnswer,
  type RecordedRequest,
  readRecording,
  startModelServer,
} from './model-server.js';
export {
  contentText,
  loadScenarioFile,
  type MessagesRequestBody,
  parseScenario,
  parseScenarioText,
  type Scenario,
  type ScenarioInput,
  type ScriptedTurn,
  selectTurn,
  substituteCwd,
  type ToolResultBlock,
  type TurnMatcher,
  toolResults,
  toolResultText,
  turnIndex,
  workingDirectory,
} from './scenario.js';
export { scenarioJsonSchema } from './scenario-schema.js';
export { encodeSse, jsonMessage, type ReplySpec, sseEvents } from './sse.js';
export { createZulipTestServer } from './zulip/server.js';
export type {
  ZulipTestMessage,
  ZulipTestQueue,
  ZulipTestReaction,
  ZulipTestRequest,
  ZulipTestServer,
  ZulipTestServerOptions,
  ZulipTestUser,
  ZulipTestUserInput,
} from './zulip/types.js';
