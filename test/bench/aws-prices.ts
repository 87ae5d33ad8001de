/**
 * AWS list prices used by `npm run bench:cloud` to turn counted requests and measured milliseconds into dollars.
 * Region us-east-1 (N. Virginia), on-demand, no free tier, no volume discount; USD.
 *
 * Recorded 2026-12-05 from AWS's published price lists as known to the person who wrote this file — NOT fetched
 * from the pages on that day. These prices have been stable for years, but check them on the pages below before
 * you rely on a figure, and update `recorded` when you do:
 * - S3 requests, storage, data transfer, replication: https://aws.amazon.com/s3/pricing/
 * - SQS: https://aws.amazon.com/sqs/pricing/
 * - Lambda: https://aws.amazon.com/lambda/pricing/
 * - API Gateway (HTTP APIs): https://aws.amazon.com/api-gateway/pricing/
 */
export const AWS_PRICES = {
  recorded: '2026-12-05',
  region: 'us-east-1',
  s3: {
    /** PUT, COPY, POST, LIST requests (S3 Standard), per request: $0.005 per 1,000. */
    putCopyPostList: 0.005 / 1000,
    /** GET, SELECT and all other requests (HEAD included), per request: $0.0004 per 1,000. */
    getAndOther: 0.0004 / 1000,
    /** DELETE requests are free. (DeleteObjects is a POST: priced here as one, to err on the high side.) */
    delete: 0,
    /** Storage, per GB-month (first 50 TB): bodies stay seconds to minutes, so this is left out of the table. */
    storageGbMonth: 0.023,
  },
  sqs: {
    /** FIFO queue requests, per request (each 64 KiB chunk of a payload is one; ours are far smaller). */
    fifoRequest: 0.5 / 1_000_000,
  },
  lambda: {
    /** Arm64 (the stack's functions), per GB-second of duration. */
    arm64GbSecond: 0.0000133334,
    /** Per invocation. */
    request: 0.2 / 1_000_000,
  },
  apiGateway: {
    /** HTTP API, per request (first 300 million a month). */
    httpRequest: 1.0 / 1_000_000,
  },
  dataTransfer: {
    /** Out of AWS to the internet, per GB (beyond the first 100 GB, up to 10 TB a month). */
    internetOutGb: 0.09,
    /** Between two AWS regions (S3 Cross-Region Replication's transfer), per GB. */
    interRegionGb: 0.02,
  },
  s3Replication: {
    /**
     * What S3 Replication charges per replicated object: the PUT to the destination (S3 Standard), plus for
     * Cross-Region Replication the inter-region transfer above (Replication Time Control, optional, would add
     * $0.015 per GB). The destination's storage is left out, as it is for the relay's peer.
     */
    putPerObject: 0.005 / 1000,
  },
} as const;

/** Memory of the stack's functions (infra/constructs/relay-functions.ts), in GB. */
export const FUNCTION_MEMORY_GB = { api: 0.5, replay: 1 } as const;
