import { describe, expect, it } from 'vitest';
import { JournalKeys, parseS3Url } from '../../src/adapters/s3-journal/keys.js';
import { S3JournalStore } from '../../src/adapters/s3-journal/store.js';

describe('s3://bucket/prefix', () => {
  it('parses the bucket and a normalised prefix', () => {
    expect(parseS3Url('s3://relay-journal')).toEqual({ bucket: 'relay-journal', prefix: '' });
    expect(parseS3Url('s3://relay-journal/')).toEqual({ bucket: 'relay-journal', prefix: '' });
    expect(parseS3Url('s3://relay-journal/prod/eu/')).toEqual({ bucket: 'relay-journal', prefix: 'prod/eu' });
    expect(parseS3Url('s3://a.b-c/x')).toEqual({ bucket: 'a.b-c', prefix: 'x' });
  });

  it('refuses what is not a bucket or would break the layout', () => {
    for (const bad of [
      'https://bucket/x',
      's3://',
      's3://ab',
      's3://Upper',
      's3://-bucket',
      's3://a..b',
      's3://bucket/a//b',
      's3://bucket/a/../b',
      's3://bucket/a/\u0001',
    ]) {
      expect(() => parseS3Url(bad), bad).toThrow();
    }
  });

  it('lays keys out like the folder journal', () => {
    const ref = { lane: '0123456789abcdef', id: '20261127T055429693Z-000000-abcdef' };
    const keys = new JournalKeys('prod/eu');
    expect(keys.config(ref)).toBe(`prod/eu/multi_journal/${ref.lane}/${ref.id}/config.XML`);
    expect(keys.body(ref)).toBe(`prod/eu/multi_journal/${ref.lane}/${ref.id}/upload`);
    expect(new JournalKeys('').config(ref)).toBe(`multi_journal/${ref.lane}/${ref.id}/config.XML`);
    expect(keys.parseLaneKey(ref.lane, keys.body(ref))).toEqual({ id: ref.id, name: 'upload' });
    expect(keys.parseLaneKey(ref.lane, `${keys.lane(ref.lane)}stray`)).toBeUndefined();
  });

  it('opens a store from a URL with a client of its own', async () => {
    const store = S3JournalStore.fromUrl('s3://relay-journal/prod/', {
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    expect(store.bucket).toBe('relay-journal');
    expect(store.prefix).toBe('prod');
    expect(store.url).toBe('s3://relay-journal/prod');
    expect(await store.client.config.forcePathStyle).toBe(true);
    await store.close();
  });
});
