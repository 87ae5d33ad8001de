import { extname, join } from 'node:path';
import { CONFIG_SCOPES, type ConfigScope } from '../core/entry.js';
import type { Logger } from '../core/logger.js';
import { BodyFile } from './body-file.js';
import type { RelayClient } from './client.js';
import { RelayRefusedError } from './errors.js';
import type { LocalChange } from './rename-detector.js';

/** The relay takes documents up to 1 MiB (CONTRACT). */
const MAX_DOCUMENT_BYTES = 1024 * 1024;

type ContentType = 'application/xml' | 'application/json';

/**
 * `--config-dir`: `<dir>/<scope>/<name>` is a configuration document (users, groups, prefs, jobs, events,
 * shares). Creating or changing the file replicates the document (`PUT /v1/config/...`), removing it replicates
 * the deletion, a rename is the deletion of the old name and the document under the new one. Folders and files
 * outside a known scope are not documents and are skipped with a log line.
 */
export class DocumentDelivery {
  constructor(
    private readonly root: string,
    private readonly client: RelayClient,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {}

  async deliver(change: LocalChange): Promise<void> {
    switch (change.action) {
      case 'upload':
        return this.put(change.path);
      case 'delete':
        return this.remove(change.path);
      case 'rename':
        await this.remove(change.path);
        return this.put(change.target);
      case 'makedir':
        return;
    }
  }

  private async put(path: string): Promise<void> {
    const doc = document(path);
    if (!doc) return this.skip(path);
    // Opened as the files pipeline opens a body (BodyFile): a FIFO put there must not hang the agent, and the size
    // is known before a byte is read.
    const file = await BodyFile.open(join(this.root, path));
    if (!file) return; // gone again (or not a regular file): its deletion follows in the outbox
    const chunks: Uint8Array[] = [];
    try {
      let size = 0;
      for await (const chunk of file.stream()) {
        size += chunk.length;
        if (size > MAX_DOCUMENT_BYTES) {
          // What the relay answers such a document: set aside like any change it refuses (`agent refused` lists
          // it), never counted as sent while the peers keep the older version.
          throw new RelayRefusedError(413, 'PAYLOAD_TOO_LARGE', `${path}: a configuration document is at most 1 MiB`);
        }
        chunks.push(chunk);
      }
    } finally {
      await file.close();
    }
    const body = Buffer.concat(chunks);
    await this.client.putConfig(doc.scope, doc.name, body, contentType(path, body), { signal: this.signal });
  }

  private async remove(path: string): Promise<void> {
    const doc = document(path);
    if (!doc) return this.skip(path);
    await this.client.deleteConfig(doc.scope, doc.name, { signal: this.signal });
  }

  private skip(path: string): void {
    this.logger.info('not a configuration document (<scope>/<name>); skipped', { path, scopes: CONFIG_SCOPES });
  }
}

function document(path: string): { scope: ConfigScope; name: string } | undefined {
  const [scope, name, ...rest] = path.split('/');
  if (rest.length > 0 || !name || !(CONFIG_SCOPES as readonly string[]).includes(scope!)) return undefined;
  return { scope: scope as ConfigScope, name };
}

/** `.json` or a body starting with `{`/`[` is JSON; everything else is sent as XML. */
function contentType(path: string, body: Buffer): ContentType {
  if (extname(path).toLowerCase() === '.json') return 'application/json';
  const first = body.toString('utf8', 0, 64).trimStart()[0];
  return first === '{' || first === '[' ? 'application/json' : 'application/xml';
}
