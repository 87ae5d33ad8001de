import type { Command } from 'commander';
import type { ChangeView } from '../../core/journal-view.js';
import { UsageError } from '../errors.js';
import { bytes, print, table } from '../format.js';
import { OperatorClient } from '../operator-client.js';

interface RelayOptions {
  relay: string;
  token?: string;
  json?: boolean;
}

interface PeerRow {
  name: string;
  url: string;
  status: string;
  lastPingAt: string | null;
  pending: number;
  pendingBytes: number;
  oldestPendingAt: string | null;
  conflicts: number;
  failed: number;
  blocked: number;
  /** Absent from relays without the delete guard. */
  held?: number;
  /** Why the peer is not ONLINE (the last probe's or replay's answer). */
  lastError?: string | null;
}

interface Page {
  items: ChangeView[];
  next: string | null;
}

export function addRelayOptions(command: Command): Command {
  return command
    .option('--relay <url>', 'relay API base URL', process.env.VFS_RELAY_URL ?? 'http://127.0.0.1:8787')
    .option('--token <token>', 'admin token (default $VFS_RELAY_ADMIN_TOKEN)')
    .option('--json', 'machine-readable output');
}

function client(options: RelayOptions): OperatorClient {
  return new OperatorClient(options.relay, options.token ?? process.env.VFS_RELAY_ADMIN_TOKEN);
}

export async function status(options: RelayOptions): Promise<void> {
  const api = client(options);
  const [peers, parked] = await Promise.all([
    api.get<PeerRow[]>('/v1/peers'),
    Promise.all([
      api.get<Page>('/v1/changes?status=CONFLICT&limit=100'),
      api.get<Page>('/v1/changes?status=FAILED&limit=100'),
    ]).then((pages) => oneEach(pages.flatMap((p) => p.items))),
  ]);
  if (options.json) return print(JSON.stringify({ peers, parked }, null, 2));
  if (peers.length === 0) print('No peers configured.');
  else
    print(
      table(
        ['PEER', 'STATUS', 'PENDING', 'BYTES', 'OLDEST PENDING', 'CONFLICTS', 'FAILED', 'HELD', 'BLOCKED', 'LAST PING'],
        peers.map((p) => [
          p.name,
          p.status,
          p.pending,
          bytes(p.pendingBytes),
          p.oldestPendingAt ?? '-',
          // Apart: `journal ls --status CONFLICT` must find as many as this column says.
          p.conflicts,
          p.failed,
          p.held ?? 0,
          p.blocked,
          p.lastPingAt ?? '-',
        ]),
      ),
    );
  // Why a peer is not ONLINE: what an operator looks at first (a refused password, a refused connection).
  for (const p of peers.filter((peer) => peer.status !== 'ONLINE' && peer.lastError)) {
    print(`${p.name} is ${p.status}: ${p.lastError}`);
  }
  if (parked.length > 0) {
    print('\nNeeds an operator (vfs-relay journal show ID, then retry or skip):');
    print(changeTable(parked, true));
  }
  const holding = peers.filter((p) => (p.held ?? 0) > 0);
  if (holding.length > 0) {
    // Per peer: one held change is one entry per peer it goes to.
    const counts = holding.map((p, i) => `${p.held}${i === 0 ? ' deletes' : ''} for ${p.name}`).join(', ');
    print(`\nThe delete guard holds ${counts} (vfs-relay holds ls, then holds release or holds discard).`);
  }
}

/** What `journal ls --status` takes (the API's statuses; BLOCKED is derived). Kept here: `journal` loads no core. */
const LISTED_STATUSES = ['AWAITING_BODY', 'PENDING', 'CONFLICT', 'FAILED', 'HELD', 'BLOCKED'];

export async function journalList(
  options: RelayOptions & { status?: string; peer?: string; node?: string; limit: string },
): Promise<void> {
  if (options.status !== undefined && !LISTED_STATUSES.includes(options.status)) {
    throw new UsageError(`--status ${options.status}: not a status; one of ${LISTED_STATUSES.join(', ')}`);
  }
  const api = client(options);
  const wanted = Number.parseInt(options.limit, 10);
  const items: ChangeView[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(Math.min(1000, wanted - items.length)) });
    if (options.status) query.set('status', options.status);
    if (options.peer) query.set('peer', options.peer);
    if (options.node) query.set('node', options.node);
    if (cursor) query.set('cursor', cursor);
    const page: Page = await api.get<Page>(`/v1/changes?${query}`);
    items.push(...page.items);
    cursor = page.next;
  } while (cursor && items.length < wanted);
  if (options.json) return print(JSON.stringify(items, null, 2));
  const filters = [
    options.status && `--status ${options.status}`,
    options.peer && `--peer ${options.peer}`,
    options.node && `--node ${options.node}`,
  ].filter(Boolean);
  const none = filters.length === 0 ? 'The journal is empty.' : `No change matches ${filters.join(' ')}.`;
  print(items.length === 0 ? none : changeTable(items, false));
  // The list stopped at --limit: say so, rather than let the operator take it for all there is.
  if (cursor) print(`… the first ${items.length}; more in the journal: raise --limit to see them`);
}

export async function journalShow(id: string, options: RelayOptions): Promise<void> {
  const change = await client(options).get<ChangeView>(`/v1/changes/${encodeURIComponent(id)}`);
  if (options.json) return print(JSON.stringify(change, null, 2));
  const fields: [string, unknown][] = [
    ['id', change.id],
    ['action', change.action],
    ['path', change.path],
    ['target', change.target],
    ['size', change.size === undefined ? undefined : `${change.size} (${bytes(change.size)})`],
    ['sha256', change.sha256],
    ['modified', change.modified],
    ['user', change.user],
    ['node', change.node],
    ['created', change.createdAt],
    ['status', change.status],
  ];
  print(
    table(
      ['FIELD', 'VALUE'],
      fields.filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]),
    ),
  );
  print('');
  print(
    table(
      ['PEER', 'STATUS', 'ATTEMPTS', 'LAST ATTEMPT', 'LAST ERROR'],
      change.peers.map((p) => [
        p.peer,
        p.status,
        p.attempts,
        p.lastAttemptAt ?? '-',
        // BLOCKED: what it waits behind now; a lastError kept from an earlier attempt would mislead.
        p.status === 'BLOCKED' && p.blockedBy ? `waits behind ${p.blockedBy}` : (p.lastError ?? '-'),
      ]),
    ),
  );
}

/**
 * `?peer=` for --peer. An empty --peer (an unset variable: `--peer "$PEER"`) is refused: left out, the command
 * would act on every peer.
 */
function peerQuery(peer: string | undefined): string {
  if (peer === undefined) return '';
  if (peer.trim() === '')
    throw new UsageError('--peer is empty: name a peer, or leave --peer out to act on every peer');
  return `?peer=${encodeURIComponent(peer)}`;
}

export async function journalRetry(id: string, options: RelayOptions & { peer?: string }): Promise<void> {
  const query = peerQuery(options.peer);
  const change = await client(options).post<ChangeView>(`/v1/changes/${encodeURIComponent(id)}/retry${query}`);
  if (options.json) return print(JSON.stringify(change, null, 2));
  print(`retrying ${id}: ${change.peers.map((p) => `${p.peer} ${p.status}`).join(', ')}`);
}

export async function journalSkip(id: string, options: RelayOptions & { peer?: string }): Promise<void> {
  const query = peerQuery(options.peer);
  const result = await client(options).delete<{ id: string; skipped: string[] }>(
    `/v1/changes/${encodeURIComponent(id)}${query}`,
  );
  if (options.json) return print(JSON.stringify(result, null, 2));
  print(`skipped ${id} for ${result.skipped.join(', ')}`);
}

/**
 * Each change once, oldest first: one that is CONFLICT on one peer and FAILED on another is in both pages.
 */
function oneEach(items: ChangeView[]): ChangeView[] {
  const byId = new Map(items.map((c) => [c.id, c]));
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function changeTable(items: ChangeView[], withError: boolean): string {
  return table(
    ['ID', 'STATUS', 'ACTION', 'PATH', withError ? 'REASON' : 'PEERS'],
    items.map((c) => [
      c.id,
      c.status,
      c.action,
      c.target ? `${c.path} -> ${c.target}` : c.path,
      withError
        ? (c.peers.find((p) => (p.status === 'CONFLICT' || p.status === 'FAILED') && p.lastError)?.lastError ??
          c.peers.find((p) => p.lastError)?.lastError ??
          '-')
        : c.peers.map((p) => `${p.peer}:${p.status}`).join(' '),
    ]),
  );
}
