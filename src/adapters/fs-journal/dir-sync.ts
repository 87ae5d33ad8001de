import { fsyncPath } from '../durable-files/fsync.js';
import { GroupCommit } from '../durable-files/group-commit.js';

/**
 * Group commit for folder fsyncs, one GroupCommit per folder: under a burst of N entries in one lane this costs
 * about two fsyncs of the lane's folder instead of N.
 */
export class DirectorySync {
  private readonly commits = new Map<string, GroupCommit>();

  sync(dir: string): Promise<void> {
    let commit = this.commits.get(dir);
    if (!commit) {
      const created = new GroupCommit(() => fsyncPath(dir));
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
}
