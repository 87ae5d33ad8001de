import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApachePeer } from './apache.js';
import { waitFor } from './node-client.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A local folder as a peer must show it below `prefix`: path → sha256 or 'dir', sorted (`.part` files left out). */
export async function expectedTree(watch: string, prefix: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const item of await readdir(dir, { withFileTypes: true })) {
      if (item.name.endsWith('.part')) continue;
      const path = `${rel}${item.name}`;
      if (item.isDirectory()) {
        out.push([prefix + path, 'dir']);
        await walk(join(dir, item.name), `${path}/`);
      } else out.push([prefix + path, sha256(await readFile(join(dir, item.name)))]);
    }
  };
  await walk(watch, '');
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The peer's tree below `prefix`, or why it could not be read (a MOVE ran under the walk). */
export async function peerTree(server: ApachePeer, prefix: string): Promise<[string, string][] | string> {
  try {
    return [...(await server.tree())].filter(([p]) => p.startsWith(prefix));
  } catch (error) {
    return `unreadable while the peer changes: ${(error as Error).message}`;
  }
}

/** Waits until the peer's tree below `prefix` equals the local folder exactly. */
export async function mirrored(server: ApachePeer, watch: string, prefix: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => JSON.stringify(await peerTree(server, prefix)) === JSON.stringify(await expectedTree(watch, prefix)),
    timeoutMs,
    async () =>
      `peer ${JSON.stringify(await peerTree(server, prefix))}\nwant ${JSON.stringify(await expectedTree(watch, prefix))}`,
  );
}
