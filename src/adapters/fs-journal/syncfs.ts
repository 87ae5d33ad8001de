import { execFile } from 'node:child_process';
import { platform } from 'node:os';

/**
 * syncfs(2) through coreutils' `sync -f`: one call makes everything written to the file system holding `path`
 * durable, including renames and removals. Node has no binding for it. A checkpoint that touched thousands of
 * files costs one short-lived process instead of thousands of fsyncs (each a thread-pool round trip and a
 * journal commit). Resolves false when it is not available (not Linux, no coreutils, or it failed): the caller
 * then fsyncs file by file.
 */
export function syncFileSystem(path: string): Promise<boolean> {
  if (platform() !== 'linux') return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile('sync', ['-f', path], { timeout: 120_000, windowsHide: true }, (error) => resolve(!error));
  });
}
