import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from '../adapters/durable-files/replace-file.js';

export const OPEN_UPLOADS_FILE = 'open-uploads.json';

/**
 * The three-step uploads the relay opened for this agent and that are not committed or given up yet, in
 * `open-uploads.json` beside the outbox. An agent stopped or killed in the middle of one gives it up at its next
 * start (`POST /v1/changes/{id}/abandon`), instead of leaving it on the relay to hold back its path until it
 * expires (an hour). The file is rewritten (fsynced, renamed into place) when an upload opens and when it closes:
 * two small writes per upload of more than 4 MiB.
 */
export class OpenUploads {
  private readonly ids = new Set<string>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    /** Left open by an earlier run. */
    readonly left: readonly string[],
  ) {
    for (const id of left) this.ids.add(id);
  }

  static async open(dir: string): Promise<OpenUploads> {
    const file = join(dir, OPEN_UPLOADS_FILE);
    let left: string[] = [];
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
      if (Array.isArray(parsed)) left = parsed.filter((id): id is string => typeof id === 'string');
    } catch {
      // Missing (none open), or unreadable: at worst an upload left open expires on the relay as before.
    }
    return new OpenUploads(file, left);
  }

  /** The relay opened this upload: recorded durably before its body goes. */
  opened(id: string): Promise<void> {
    this.ids.add(id);
    return this.save();
  }

  /** Committed, given up, or gone from the relay. */
  closed(id: string): Promise<void> {
    return this.ids.delete(id) ? this.save() : Promise.resolve();
  }

  private save(): Promise<void> {
    // One write at a time, each with the set as it is when it runs.
    const next = this.writing.then(() => replaceFile(this.file, `${JSON.stringify([...this.ids])}\n`));
    this.writing = next.catch(() => {});
    return next;
  }
}
