/**
 * `vfs-relay/client`: the client for the relay's node endpoints alone (post changes, stream bodies, replicate
 * configuration documents), for a file server's own event hooks. Loads neither the relay nor the AWS SDK.
 */
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
} from './agent/client.js';
export { BodyChangedError, RelayRefusedError, RelayUnavailableError } from './agent/errors.js';
export { DEFAULT_RETRY, type RetryPolicy } from './agent/retry.js';
