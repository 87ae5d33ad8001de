import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';

/**
 * S3 answers SignatureDoesNotMatch with the canonical request it computed, header values included — with role
 * (temporary) credentials that is the x-amz-security-token. The SDK copies every field of the error XML onto the
 * exception (decorateServiceException), and the logger serializes every enumerable field of an error.
 */
describe('AWS SDK error fields in logs', () => {
  it('does not write the session token an S3 SignatureDoesNotMatch error quotes', async () => {
    let seenToken = '';
    const client = new S3Client({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wrong', sessionToken: 'SESSION-TOKEN-SECRET-0123' },
      requestHandler: {
        handle: async (request: { headers: Record<string, string> }) => {
          seenToken = request.headers['x-amz-security-token'] ?? '';
          const xml =
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>' +
            '<Message>The request signature we calculated does not match the signature you provided.</Message>' +
            '<AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId>' +
            `<CanonicalRequest>GET\n/k\n\nhost:b.s3.eu-west-1.amazonaws.com\nx-amz-security-token:${seenToken}\n</CanonicalRequest>` +
            '<RequestId>R</RequestId><HostId>H</HostId></Error>';
          return {
            response: {
              statusCode: 403,
              reason: 'Forbidden',
              headers: { 'content-type': 'application/xml' },
              body: Readable.from([Buffer.from(xml)]),
            },
          };
        },
      } as never,
    });
    const error = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })).catch((e: unknown) => e);
    expect(seenToken).toBe('SESSION-TOKEN-SECRET-0123');
    const lines: string[] = [];
    new PinoLogger({ sink: (l) => void lines.push(l), format: 'json' }).error('sweep failed', { error });
    expect(lines.join('')).toContain('SignatureDoesNotMatch');
    expect(lines.join('')).not.toContain('SESSION-TOKEN-SECRET-0123');
  });
});
