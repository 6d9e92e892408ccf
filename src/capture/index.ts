/**
 * The capture stage: turning a service's output into {@link LogRecord}s. Line parsing and
 * multi-line grouping (pure), a bounded priority-dropping queue (pure), the store sink, the
 * supervisor's capture socket, and `createLineCapture` for a child's stdout/stderr. Other stages
 * import from here only. The app-side entries `dancer/pino` and `dancer/context` are separate
 * files so an app loads nothing else.
 */
export { Assembler, type AssemblerOptions, DEFAULT_FLUSH_TIMEOUT_MS } from './assembler.js';
export { SocketForwarder, type SocketForwarderOptions } from './capture-client.js';
export {
  CAPTURE_SOCKET_ENV,
  type CaptureServer,
  type CaptureServerOptions,
  createCaptureServer,
  type DroppedNotice,
} from './capture-server.js';
export { type DancerContext, dancerMixin, getContext, runWithContext, updateContext } from './context.js';
export { type ErrorHead, parseErrorHead } from './error-head.js';
export { type FollowEvent, type FollowOptions, followFile } from './follow.js';
export { type InferredLevel, inferLevel, levelFromValue } from './levels.js';
export {
  createLineCapture,
  type LineCapture,
  type LineCaptureOptions,
  type LineCaptureStats,
} from './line-capture.js';
export {
  DEFAULT_MAX_JSON_DEPTH,
  type ParsedLine,
  type ParseOptions,
  parseLine,
  recordFromObject,
  timeFromValue,
} from './parse-line.js';
export {
  CaptureQueue,
  type CaptureQueueOptions,
  DEFAULT_QUEUE_MAX_BYTES,
  DEFAULT_QUEUE_MAX_RECORDS,
  estimateRecordBytes,
  levelClass,
  type PushResult,
} from './queue.js';
export { quickLevel } from './quick-level.js';
export {
  DEFAULT_MAX_RECORD_BYTES,
  type DecodedLine,
  decodeRawLine,
  LineSplitter,
  type RawLine,
  stripAnsi,
  toRawLine,
} from './raw-line.js';
export { StoreSink, type StoreSinkOptions, type StoreSinkStats } from './store-sink.js';
export { firstLine, outputKeys, TransportDedupe, type TransportDedupeOptions } from './transport-dedupe.js';
