import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { JournalStorageError } from '../../core/errors.js';

/** DeleteObjects takes at most 1,000 keys. */
const MAX_KEYS = 1000;

interface Waiting {
  key: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Deletes objects by key, many callers' keys in one DeleteObjects request: the keys asked for while a request is
 * in flight go together in the next one (group commit). Each caller learns about its own key only: done once S3
 * answered that it is deleted (or was absent), or an error naming why not.
 */
export class BatchedDelete {
  private queue: Waiting[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  delete(key: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_KEYS);
      try {
        const result = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((w) => ({ Key: w.key })), Quiet: true },
          }),
        );
        // Quiet: only the keys that could not be deleted are listed.
        const failed = new Map((result.Errors ?? []).map((e) => [e.Key, e]));
        for (const waiting of batch) {
          const error = failed.get(waiting.key);
          if (!error) waiting.resolve();
          else {
            waiting.reject(
              new JournalStorageError(
                `could not delete s3://${this.bucket}/${waiting.key}: ${error.Code} ${error.Message}`,
              ),
            );
          }
        }
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
      }
    }
    this.flushing = undefined;
  }
}
