/**
 * The node side of vfs-relay, for other TypeScript programs: a client for the node endpoints of the HTTP API,
 * and the agent that watches a folder and journals its changes through that client.
 */
export { type AgentHandle, type AgentOptions, type AgentStatus, runAgent, type ScanProgress } from './agent.js';
export {
  type BodySource,
  type CallOptions,
  type ChangeReceipt,
  type ChangeRequest,
  type ConfigScope,
  type IgnoredReceipt,
  type PendingReceipt,
  RelayClient,
  type RelayClientOptions,
  type UploadReceipt,
  type UploadRequest,
  type UploadTarget,
} from './client.js';
export {
  AgentConfigError,
  BodyChangedError,
  OutboxCorruptError,
  OutboxLockedError,
  RelayRefusedError,
  RelayUnavailableError,
  UploadUrlRefusedError,
} from './errors.js';
export { DEFAULT_IGNORE } from './paths.js';
export type { LocalChange } from './rename-detector.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { defaultStateDir, stateHome } from './state-dir.js';
