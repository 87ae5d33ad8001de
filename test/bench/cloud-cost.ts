// What one replicated change costs on AWS, from what bench:cloud counted and measured (prices: aws-prices.ts).
import { AWS_PRICES, FUNCTION_MEMORY_GB } from './aws-prices.js';

/** What one phase of the bench counted and measured, per change. */
export interface ChangeFigures {
  /** S3 and SQS requests by operation (`S3 GetObject`), per change, API and replay side together. */
  requests: Map<string, number>;
  /** PUTs the node itself sends (the body to the presigned URL), per change. */
  nodePuts: number;
  /** Requests to the API (API Gateway + one API function invocation each), per change. */
  apiRequests: number;
  /** API function milliseconds per change. */
  apiMs: number;
  /** Replay function milliseconds per change, and invocations (batches) per change. */
  replayMs: number;
  replayInvocations: number;
  /** Body bytes per change. */
  bytes: number;
}

/** Operations S3 prices as PUT/COPY/POST/LIST; DeleteObject is free; the rest are GET-class. */
const PUT_CLASS = new Set([
  'PutObject',
  'CopyObject',
  'ListObjectsV2',
  'DeleteObjects',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'PutObjectTagging',
]);

export interface CostPerMillion {
  s3: number;
  sqs: number;
  lambda: number;
  apiGateway: number;
  /** The relay's own AWS bill: the four above. */
  relay: number;
  /** Sending the bodies to a peer outside AWS. */
  internetOut: number;
  /** S3 Replication of the same objects, within a region and across regions. */
  s3ReplicationSameRegion: number;
  s3ReplicationCrossRegion: number;
}

const GB = 1024 ** 3;

export function costPerMillion(f: ChangeFigures): CostPerMillion {
  const p = AWS_PRICES;
  let s3 = f.nodePuts * p.s3.putCopyPostList;
  let sqs = 0;
  for (const [name, n] of f.requests) {
    const [service, operation = ''] = name.split(' ');
    if (service === 'SQS') sqs += n * p.sqs.fifoRequest;
    else if (operation === 'DeleteObject') s3 += n * p.s3.delete;
    else s3 += n * (PUT_CLASS.has(operation) ? p.s3.putCopyPostList : p.s3.getAndOther);
  }
  const lambda =
    (f.apiMs / 1000) * FUNCTION_MEMORY_GB.api * p.lambda.arm64GbSecond +
    f.apiRequests * p.lambda.request +
    (f.replayMs / 1000) * FUNCTION_MEMORY_GB.replay * p.lambda.arm64GbSecond +
    f.replayInvocations * p.lambda.request;
  const apiGateway = f.apiRequests * p.apiGateway.httpRequest;
  const million = 1_000_000;
  const gb = f.bytes / GB;
  return {
    s3: s3 * million,
    sqs: sqs * million,
    lambda: lambda * million,
    apiGateway: apiGateway * million,
    relay: (s3 + sqs + lambda + apiGateway) * million,
    internetOut: gb * p.dataTransfer.internetOutGb * million,
    s3ReplicationSameRegion: p.s3Replication.putPerObject * million,
    s3ReplicationCrossRegion: (p.s3Replication.putPerObject + gb * p.dataTransfer.interRegionGb) * million,
  };
}
