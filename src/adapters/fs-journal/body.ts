import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteStream } from '../../core/bytes.js';
import { PayloadTooLargeError } from '../../core/errors.js';
import type { BodyDigest } from '../../core/journal.js';
import { throughTemporaryName } from '../durable-files/replace-file.js';
import { PRIVATE_FILE } from './modes.js';

/**
 * Streams `body` to `file` through a temporary name: hash and count on the way, then rename. Memory stays
 * constant whatever the size; a failure or an oversized body leaves nothing behind under `file`. Not fsynced:
 * the journal makes a body durable when it publishes the entry. The rename gives every body its own inode, so a
 * body already linked into other lanes is never overwritten in place.
 */
export async function writeBodyFile(file: string, body: ByteStream, maxBytes: number): Promise<BodyDigest> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Uint8Array, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new PayloadTooLargeError(`the body is larger than ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await throughTemporaryName(file, (temporary, flags) =>
    pipeline(body, meter, createWriteStream(temporary, { flags, mode: PRIVATE_FILE, highWaterMark: 1 << 20 })),
  );
  return { size, sha256: hash.digest('hex') };
}

/** Hashes a stored file (after a restart, when the digest taken while writing is gone). */
export async function digestFile(file: string): Promise<BodyDigest | undefined> {
  const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!handle) return undefined;
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
  } finally {
    await handle.close();
  }
  return { size, sha256: hash.digest('hex') };
}
