import { open } from 'node:fs/promises';
import { GroupCommit } from '../durable-files/group-commit.js';

/**
 * Group commit for folder fsyncs, one GroupCommit per folder: under a burst of N entries in one lane this costs
 * about two fsyncs of the lane's folder instead of N.
 *
 * Fail-stop, like the write-ahead log: once an fsync of a folder failed, every later one fails too, until a restart.
 * Linux may drop what a failed fsync could not write and report the error once, to one caller (an fsync through
 * a descriptor opened afterwards sees nothing): a caller that queued behind the failed fsync, or a later one, would
 * be told its folder is durable while the names it holds may be lost. (A folder that cannot be opened — removed
 * meanwhile — is that caller's error only.)
 */
export class DirectorySync {
  private readonly commits = new Map<string, GroupCommit>();
  private failed: Error | undefined;

  /** Why no folder is made durable any more (fail-stop), or undefined. */
  get failure(): string | undefined {
    return this.failed?.message;
  }

  sync(dir: string): Promise<void> {
    let commit = this.commits.get(dir);
    if (!commit) {
      const created = new GroupCommit(() => this.fsync(dir));
      this.commits.set(dir, created);
      commit = created;
    }
    const done = commit.request();
    const forget = () => {
      if (this.commits.get(dir)?.idle) this.commits.delete(dir);
    };
    done.then(forget, forget);
    return done;
  }

  private async fsync(dir: string): Promise<void> {
    if (this.failed) throw this.failed;
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } catch (error) {
      this.failed ??= new Error(
        `an fsync of a journal folder failed (${error instanceof Error ? error.message : String(error)}); ` +
          'no change is made durable until the relay restarts',
      );
      throw this.failed;
    } finally {
      await handle.close();
    }
  }
}
