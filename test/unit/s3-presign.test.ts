import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { presignPut } from '../../src/adapters/s3-journal/presign.js';
import { S3JournalStore } from '../../src/adapters/s3-journal/store.js';
import { entry } from '../support/journal-conformance.js';

// Presigning is local computation: no request leaves the process (the endpoint below does not exist).
const client = new S3Client({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  forcePathStyle: true,
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
});

function signedHeaders(url: string): string[] {
  return (new URL(url).searchParams.get('X-Amz-SignedHeaders') ?? '').split(';');
}

describe('presigned body uploads', () => {
  const body = Buffer.from('hello, relay');
  const sha256 = createHash('sha256').update(body).digest('hex');

  it('signs the exact size and the SHA-256, which the client must send as headers', async () => {
    const store = new S3JournalStore(client, 'journal-bucket', 'relay/a');
    const home = entry({ action: 'upload', size: body.length, sha256, status: 'AWAITING_BODY' });
    const target = await store.uploadTarget(home);
    const url = new URL(target.url);
    expect(target.method).toBe('PUT');
    expect(url.pathname).toBe(`/journal-bucket/relay/a/multi_journal/${home.lane}/${home.id}/upload`);
    expect(signedHeaders(target.url)).toEqual(
      expect.arrayContaining(['host', 'content-length', 'x-amz-checksum-sha256']),
    );
    expect(target.headers).toEqual({
      'content-length': String(body.length),
      'x-amz-checksum-sha256': createHash('sha256').update(body).digest('base64'),
    });
    // The checksum is a header (enforced against the body), not a query parameter a client could drop.
    expect(url.searchParams.has('x-amz-checksum-sha256')).toBe(false);
    expect(url.searchParams.get('x-amz-sdk-checksum-algorithm')).toBe('SHA256');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300'); // 5 minutes (docs/cloud.md)
    // No other checksum the SDK might add on its own (a CRC32 of the empty presign request breaks uploads).
    expect([...url.searchParams.keys()].filter((k) => /crc/i.test(k))).toEqual([]);
    expect(signedHeaders(target.url).filter((h) => /crc/i.test(h))).toEqual([]);
  });

  it('signs only the size when no checksum was declared, and adds no computed checksum', async () => {
    const target = await presignPut(client, 'journal-bucket', 'multi_journal/x/y/upload', { size: 5, expiresIn: 60 });
    const url = new URL(target.url);
    expect(signedHeaders(target.url)).toContain('content-length');
    expect(signedHeaders(target.url).some((h) => h.startsWith('x-amz-checksum'))).toBe(false);
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    expect(target.headers).toEqual({ 'content-length': '5' });
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
  });

  it('signs a different URL for a different size or checksum', async () => {
    const a = await presignPut(client, 'b-1', 'k', { size: 5, sha256 });
    const b = await presignPut(client, 'b-1', 'k', { size: 6, sha256 });
    const c = await presignPut(client, 'b-1', 'k', { size: 5, sha256: 'f'.repeat(64) });
    const signature = (u: string) => new URL(u).searchParams.get('X-Amz-Signature');
    expect(new Set([signature(a.url), signature(b.url), signature(c.url)]).size).toBe(3);
  });

  it('refuses what it cannot sign', async () => {
    await expect(presignPut(client, 'b-1', 'k', { size: -1 })).rejects.toThrow(/size/);
    await expect(presignPut(client, 'b-1', 'k', { size: 1, sha256: 'xyz' })).rejects.toThrow(/sha256/);
    await expect(presignPut(client, 'b-1', 'k', { size: 1, expiresIn: 8 * 24 * 3600 })).rejects.toThrow(/expire/);
    const store = new S3JournalStore(client, 'journal-bucket');
    await expect(store.uploadTarget(entry({ action: 'makedir' }))).rejects.toThrow(/not an upload/);
  });
});
