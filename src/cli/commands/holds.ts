import type { ChangeView } from '../../core/journal-view.js';
import { print, table } from '../format.js';
import { OperatorClient } from '../operator-client.js';

interface HoldOptions {
  relay: string;
  token?: string;
  json?: boolean;
  node?: string;
}

interface Page {
  items: ChangeView[];
  next: string | null;
}

function client(options: HoldOptions): OperatorClient {
  return new OperatorClient(options.relay, options.token ?? process.env.VFS_RELAY_ADMIN_TOKEN);
}

/** `vfs-relay holds ls`: every change the delete guard holds (of one node), oldest first. */
export async function holdsList(options: HoldOptions): Promise<void> {
  const api = client(options);
  const held: ChangeView[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ status: 'HELD', limit: '1000' });
    if (cursor) query.set('cursor', cursor);
    const page: Page = await api.get<Page>(`/v1/changes?${query}`);
    held.push(...page.items.filter((c) => options.node === undefined || c.node === options.node));
    cursor = page.next;
  } while (cursor);
  if (options.json) return print(JSON.stringify(held, null, 2));
  if (held.length === 0)
    return print(`The delete guard holds nothing${options.node ? ` of node ${options.node}` : ''}.`);
  print(
    table(
      ['ID', 'NODE', 'PATH', 'PEERS', 'REASON'],
      held.map((c) => [
        c.id,
        c.node ?? '-',
        c.path,
        c.peers
          .filter((p) => p.status === 'HELD')
          .map((p) => p.peer)
          .join(' '),
        c.peers.find((p) => p.status === 'HELD')?.lastError ?? '-',
      ]),
    ),
  );
  const scope = options.node ? ` --node ${options.node}` : '';
  print(`\n${held.length} held: vfs-relay holds release${scope} (replay them) or holds discard${scope} (drop them).`);
}

/** `vfs-relay holds release`: every held change (of one node) replays as usual. */
export async function holdsRelease(options: HoldOptions): Promise<void> {
  const { released } = await client(options).post<{ released: number }>(`/v1/holds/release${nodeQuery(options)}`);
  if (options.json) return print(JSON.stringify({ released }));
  print(
    `released ${released} held change${released === 1 ? '' : 's'}${options.node ? ` of node ${options.node}` : ''}`,
  );
}

/** `vfs-relay holds discard`: every held change (of one node) is dropped; the peers keep what they have. */
export async function holdsDiscard(options: HoldOptions): Promise<void> {
  const { discarded } = await client(options).post<{ discarded: number }>(`/v1/holds/discard${nodeQuery(options)}`);
  if (options.json) return print(JSON.stringify({ discarded }));
  print(
    `discarded ${discarded} held change${discarded === 1 ? '' : 's'}${options.node ? ` of node ${options.node}` : ''}`,
  );
}

function nodeQuery(options: HoldOptions): string {
  return options.node === undefined ? '' : `?node=${encodeURIComponent(options.node)}`;
}
