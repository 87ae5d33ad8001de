import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/**
 * What Lambda hands the relay's functions, built the way API Gateway (HTTP API, payload 2.0) and the SQS event
 * source mapping build them, so tests drive the real handlers in functions/.
 */

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<ApiResult>;
export type ReplayHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface ApiResult {
  statusCode: number;
  body?: string;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | number | boolean>;
}

export const lambdaContext = {
  functionName: 'vfs-relay-replay',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;

export interface ApiRequest {
  method: string;
  /** Path and query string: `/v1/changes?limit=5`. */
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** An API Gateway v2 event for one request; a body always travels base64-encoded (binary safe). */
export function apiEvent(request: ApiRequest): APIGatewayProxyEventV2 {
  const [path = '/', query = ''] = request.url.split('?', 2);
  const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
  const headers = { host: 'relay.example.com', 'x-forwarded-proto': 'https', ...request.headers };
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'relay',
      domainName: headers.host,
      domainPrefix: 'relay',
      http: { method: request.method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: randomBytes(8).toString('hex'),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body && body.length > 0
      ? { body: body.toString('base64'), isBase64Encoded: true }
      : { isBase64Encoded: false }),
  };
}

/** The record Lambda's SQS event source mapping builds for a message. */
export function sqsRecord(message: Message): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body!,
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount!,
      SentTimestamp: a.SentTimestamp!,
      SenderId: a.SenderId!,
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp!,
      MessageGroupId: a.MessageGroupId,
      MessageDeduplicationId: a.MessageDeduplicationId,
      SequenceNumber: a.SequenceNumber,
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody!,
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:relay.fifo',
    awsRegion: 'us-east-1',
  };
}

export interface FunctionUrl {
  /** `http://127.0.0.1:PORT` */
  url: string;
  close(): Promise<void>;
}

/**
 * A loopback HTTP server in front of an API handler, as a Lambda Function URL is: each request becomes one event,
 * the handler's answer the response. Lets HTTP clients (the agent) talk to the API function itself.
 */
export async function serveFunctionUrl(handler: ApiHandler): Promise<FunctionUrl> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const result = await handler(apiEvent(await requestOf(req)));
        const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
        res.writeHead(result.statusCode, { ...stringHeaders(result.headers), 'content-length': body.length });
        res.end(body);
      } catch (error) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`the function failed: ${String(error)}`);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function requestOf(req: IncomingMessage): Promise<ApiRequest> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return { method: req.method ?? 'GET', url: req.url ?? '/', headers, body: await buffer(req) };
}

function stringHeaders(headers: ApiResult['headers'] = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (name !== 'content-length') out[name] = String(value);
  return out;
}

export interface ReplayPump {
  /** Batches handed to the replay function so far. */
  readonly batches: number;
  /** True while no batch is being handled and the last receive of every loop came back empty. */
  readonly idle: boolean;
  /** What failed in a loop (the loop goes on): a test expects none. */
  readonly errors: readonly unknown[];
  stop(): Promise<void>;
}

/**
 * The SQS event source mapping: `loops` receive loops, each handing what it receives to the replay function and
 * deleting what the function did not report as failed. Runs until stopped.
 */
export function pumpQueue(sqs: SQSClient, queueUrl: string, replay: ReplayHandler, loops = 2): ReplayPump {
  let stopped = false;
  let batches = 0;
  const errors: unknown[] = [];
  const busy = new Set<number>();
  const emptyAfterWork = new Set<number>();
  const loop = async (n: number): Promise<void> => {
    while (!stopped) await round(n).catch((error: unknown) => errors.push(error));
  };
  const round = async (n: number): Promise<void> => {
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 30,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) {
      emptyAfterWork.add(n);
      return;
    }
    emptyAfterWork.delete(n);
    busy.add(n);
    try {
      batches += 1;
      const response = await replay({ Records: messages.map(sqsRecord) }, lambdaContext);
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      const done = messages.filter((m) => !failed.has(m.MessageId!));
      if (done.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
    } finally {
      busy.delete(n);
    }
  };
  const running = Array.from({ length: loops }, (_, n) => loop(n));
  return {
    get batches() {
      return batches;
    },
    get idle() {
      return busy.size === 0 && emptyAfterWork.size === loops;
    },
    errors,
    stop: async () => {
      stopped = true;
      await Promise.all(running);
    },
  };
}
