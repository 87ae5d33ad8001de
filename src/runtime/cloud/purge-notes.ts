import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { EntryRef } from '../../core/entry.js';
import type { JournalStore } from '../../core/journal.js';

/** What a claim object holds (see S3EntryClaims): the token of the take that wrote it, when, and whether it is a
 * released holder's note. */
export function claimBody(token: string, at: string, released: boolean): string {
  return JSON.stringify(released ? { token, at, released } : { token, at });
}

/** Where the claims of a journal's entries are: `<prefix>/claims/<lane>/<id>` (see S3EntryClaims). */
export function claimsRoot(prefix: string): string {
  return `${prefix === '' ? '' : `${prefix}/`}claims/`;
}

/**
 * The store as operators and jobs purge through it: each purge first leaves a released holder's note as the entry's
 * claim (S3EntryClaims). A replay function that listed the lane before the purge and takes the claim after it then
 * knows to read the entry again, and finds it gone; without the note it trusted its listing for up to
 * `keptMs` and replayed a change an operator had skipped, after newer changes to its paths (found by a review).
 * A process replaying the entry at that moment keeps going (a skip does not stop a change in flight).
 */
export function withPurgeNotes<T extends JournalStore>(store: T, client: S3Client, bucket: string, prefix: string): T {
  const note = async (ref: EntryRef) => {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${claimsRoot(prefix)}${ref.lane}/${ref.id}`,
        Body: claimBody(crypto.randomUUID(), new Date().toISOString(), true),
        ContentType: 'application/json',
      }),
    );
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'purge') {
        return async (ref: EntryRef) => {
          await note(ref);
          return target.purge(ref);
        };
      }
      if (property === 'purgeIf' && target.purgeIf) {
        const purgeIf = target.purgeIf.bind(target);
        return async (...args: Parameters<NonNullable<JournalStore['purgeIf']>>) => {
          await note(args[0]);
          return purgeIf(...args);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
