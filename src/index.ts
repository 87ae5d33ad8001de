// The package's public API for other TypeScript programs (the CLI is `vfs-relay`).
export * from './agent/index.js';
export { createApp } from './api/app.js';
export { loadConfig, parseConfig, type RelayConfig } from './config/load.js';
export type { ConfigFile } from './config/schema.js';
export type { Action, EntryStatus, JournalEntry } from './core/entry.js';
export type { PeerState, PeerStatus, ReplayOutcome } from './core/peer.js';
export { type EmbeddedRelay, startEmbeddedRelay } from './runtime/embedded.js';
