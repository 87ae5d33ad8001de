import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { CONFIG_SCOPES, type ConfigScope } from '../core/entry.js';
import type { Logger } from '../core/logger.js';
import type { RelayClient } from './client.js';
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
    const body = await readFile(join(this.root, path)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
      throw error;
    });
    if (!body) return; // gone again: its deletion follows in the outbox
    if (body.length > MAX_DOCUMENT_BYTES) {
      this.logger.warn('configuration document larger than 1 MiB: not replicated', { path, size: body.length });
      return;
    }
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
