import { z } from 'zod';
import { normalizePath } from '../core/paths.js';
import { parseQueueUrl, parseS3Url, problemOf } from './locations.js';

/**
 * The one place where configuration rules live. The relay's config file (`configSchema`) and the CDK deployment
 * settings (deployment-schema.ts, built from the pieces exported here) are checked only by these schemas; the
 * JSON Schema for editors (schema/vfs-relay.config.schema.json) and the reference table in
 * docs/configuration.md are generated from them (`npm run schema`). Descriptions are written for that table.
 */

/** A secret is written inline or, better, named by an environment variable. */
export const secret = z
  .union([z.string().min(1), z.object({ env: z.string().min(1).describe('environment variable name') }).strict()])
  .describe('a secret: the value itself, or `{ "env": "NAME" }` to read it from an environment variable');
export type SecretSource = z.infer<typeof secret>;

export const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use 1-64 letters, digits, ".", "_" or "-"');

const vfsPath = z.string().transform((value, ctx) => {
  try {
    return normalizePath(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

function hasNoCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return !parsed.username && !parsed.password;
  } catch {
    return true; // the URL check itself reports it
  }
}

/** An issue for each reason `reason(value)` gives; `undefined` means the value is fine. */
function refuse(reason: (value: string) => string | undefined) {
  return (value: string, ctx: z.core.$RefinementCtx<string>) => {
    const why = reason(value);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
  };
}

export const pingIntervalSeconds = z.number().int().min(1).max(86_400);

/** A WebDAV peer's fields; the deployment settings use them without the password. */
export const peerSchema = z
  .object({
    name: name.describe('unique name of the peer (in the API, the CLI, logs and metrics)'),
    url: z
      .url({ protocol: /^https?$/ })
      .refine(hasNoCredentials, 'put credentials in username/password, not in the URL')
      .describe('WebDAV base URL (`http` or `https`); no credentials in the URL'),
    username: z.string().min(1).optional().describe('Basic auth user (use `https` beyond loopback)'),
    password: secret.optional().describe('Basic auth password (a secret)'),
    node: name
      .optional()
      .describe("the node whose own file server this peer is: that node's changes are not replayed back to it"),
    pingIntervalSeconds: pingIntervalSeconds
      .default(60)
      .describe(
        'how often the peer is probed (one that is down until it answers; an ONLINE one that applied nothing since ' +
          'the last probe, to notice it went down) and the journal swept, in seconds',
      ),
    setModifiedTime: z
      .boolean()
      .default(true)
      .describe(
        'replay modified times (`PROPPATCH` after an upload that carries one, and for `mdtm`). `false` for a peer ' +
          'that does not apply them to its files (Apache mod_dav_fs keeps them as a dead property): one request ' +
          'less per upload, and `mdtm` changes count as applied without a request',
      ),
  })
  .strict();

/**
 * A read-only WebDAV view of a primary that verify and resync jobs may compare a peer with (CONTRACT "Resync and
 * verify"); never replayed to. The deployment settings use it without the password.
 */
export const sourceSchema = peerSchema
  .pick({ url: true, username: true, password: true })
  .extend({ name: name.describe('unique name of the source, across sources and peers (a job names it as `from`)') })
  .strict();

/** A job's `from` names a source or a peer: one name used twice would be ambiguous. */
export function sourceNameProblems(config: {
  sources?: readonly { name: string }[];
  peers: readonly { name: string }[];
}): { path: (string | number)[]; message: string }[] {
  const seen = new Set(config.peers.map((p) => p.name));
  const problems: { path: (string | number)[]; message: string }[] = [];
  (config.sources ?? []).forEach((source, i) => {
    if (seen.has(source.name)) {
      problems.push({
        path: ['sources', i, 'name'],
        message: `"${source.name}" is already the name of a peer or another source: names must be unique across both`,
      });
    }
    seen.add(source.name);
  });
  return problems;
}

/** What bounds one node (docs/security.md): defaults generous for a well-behaved node, tight for a runaway one. */
const NODE_LIMIT_DEFAULTS = {
  uploadIdleExpirySeconds: 3600,
  uploadMaxLifetimeSeconds: 86_400,
  maxUnfinishedUploadsPerNode: 100,
  nodeRequestsPerSecond: 2000,
  nodeRequestBurst: 4000,
  bodyIdleTimeoutSeconds: 60,
  maxConnections: 1024,
  headersTimeoutSeconds: 20,
};

const nodeLimits = z.object({
  uploadIdleExpirySeconds: z
    .number()
    .min(0.1)
    .max(604_800)
    .default(NODE_LIMIT_DEFAULTS.uploadIdleExpirySeconds)
    .describe(
      'an upload whose body has not moved for this long (a body arriving counts) is dropped, logged and counted',
    ),
  uploadMaxLifetimeSeconds: z
    .number()
    .min(0.1)
    .max(2_592_000)
    .default(NODE_LIMIT_DEFAULTS.uploadMaxLifetimeSeconds)
    .describe(
      'an upload not committed this long after it was opened is dropped even while its body arrives (the body is ' +
        'cut off): the longest one upload can hold back later changes to its paths',
    ),
  maxUnfinishedUploadsPerNode: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(NODE_LIMIT_DEFAULTS.maxUnfinishedUploadsPerNode)
    .describe('uploads one node may have waiting for their body or commit; one more is 429 TOO_MANY_UPLOADS'),
  nodeRequestsPerSecond: z
    .number()
    .min(0)
    .max(1_000_000)
    .default(NODE_LIMIT_DEFAULTS.nodeRequestsPerSecond)
    .describe('sustained requests per second per node token (more: 429 RATE_LIMITED); `0` turns the limit off'),
  nodeRequestBurst: z
    .number()
    .int()
    .min(1)
    .max(10_000_000)
    .default(NODE_LIMIT_DEFAULTS.nodeRequestBurst)
    .describe('requests a node may send at once above the sustained rate'),
  bodyIdleTimeoutSeconds: z
    .number()
    .min(0.05)
    .max(86_400)
    .default(NODE_LIMIT_DEFAULTS.bodyIdleTimeoutSeconds)
    .describe('a request body that sends no byte for this long (while the relay reads) is cut off'),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(NODE_LIMIT_DEFAULTS.maxConnections)
    .describe(
      'connections the server holds at once; more are closed as they arrive (16 more are kept for clients on the ' +
        "relay's own machine when it listens on an address others reach)",
    ),
  maxConnectionsPerAddress: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .optional()
    .describe(
      'connections one client address (an IPv6 client: its /64) holds at once; more from it are closed as they ' +
        'arrive. Default: a quarter of `maxConnections` when the relay listens on an address others reach, no cap ' +
        'when it listens on loopback (every client is local). Behind a proxy on another host, raise it',
    ),
  headersTimeoutSeconds: z
    .number()
    .min(1)
    .max(600)
    .default(NODE_LIMIT_DEFAULTS.headersTimeoutSeconds)
    .describe('a client that has not sent a whole request head this long after connecting is cut off'),
});

/** Peer names identify lanes, metrics and CLI arguments: two peers of one name would share them. */
export const uniquePeerNames = (peers: readonly { name: string }[]): boolean =>
  new Set(peers.map((p) => p.name)).size === peers.length;

/**
 * The delete guard (CONTRACT "Delete guard", docs/delete-guard.md): a burst of deletes from one node, or the delete
 * of a folder holding more than `maxDeletes` entries on the peer, waits for an operator (HELD).
 */
export const deleteGuard = z
  .object({
    maxDeletes: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(1000)
      .describe(
        'deletes one node may send within `windowSeconds`; the next one and every later delete of that node are ' +
          'HELD until an operator releases or discards them. A folder delete whose folder holds more entries than ' +
          'this on the peer is HELD too. `0` turns the guard off',
      ),
    windowSeconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(60)
      .describe('the sliding window the deletes of one node are counted in, in seconds'),
  })
  .strict()
  .default({ maxDeletes: 1000, windowSeconds: 60 });

export const vfsLocations = z
  .array(
    z
      .object({
        path: vfsPath.describe('absolute VFS path of the location'),
        replicate: z.boolean().default(true).describe('`false` excludes the location (inside a replicated one)'),
      })
      .strict(),
  )
  // prefault (an input default, parsed like a written value): the JSON Schema can show it, unlike a default that
  // sits after the path transform.
  .prefault([{ path: '/', replicate: true }])
  .describe('replicated locations; the longest matching location decides');

export const replicationUser = z
  .string()
  .min(1)
  .default('replication')
  .describe('changes made by this user are IGNORED (loop prevention: the peers apply replicas as this user)');

export const autoPlay = z
  .boolean()
  .default(false)
  .describe(
    'a new change for an OFFLINE peer triggers an immediate ping (off: it slows nodes while a peer is down; never ' +
      'while the peer asked to wait with Retry-After)',
  );

const journal = z
  .string()
  .min(1)
  .default('./data')
  .superRefine(refuse((value) => (value.startsWith('s3://') ? problemOf(parseS3Url, value) : undefined)))
  .describe(
    'a folder holding `multi_journal/` (relative to the working directory; one relay per folder), or ' +
      '`s3://bucket/prefix` (cloud mode, with `queue`)',
  );

const queue = z
  .url({ protocol: /^https?$/ })
  .superRefine(refuse((value) => problemOf(parseQueueUrl, value)))
  .optional()
  .describe('SQS FIFO queue URL (the name ends in `.fifo`): selects cloud mode, with an `s3://bucket/prefix` journal');

const objectSchema = z
  .object({
    $schema: z.string().optional().describe('the JSON Schema of this file, for editors; ignored by the relay'),
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1').describe('address the API listens on'),
        port: z.number().int().min(0).max(65_535).default(8787).describe('port the API listens on (`0`: any free one)'),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8787 }),
    publicUrl: z
      .url()
      .optional()
      .describe(
        "base URL put into upload URLs (default: the listen address, never a request's Host header; set it behind a " +
          'proxy, NAT or DNS name: listening beyond loopback without it logs a warning)',
      ),
    journal,
    queue,
    cloud: z
      .object({
        groupsPerLane: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(16)
          .describe('SQS message groups per lane (unrelated paths of one lane replay in parallel)'),
        redriveAfterSeconds: z
          .number()
          .int()
          .min(60)
          .max(1_209_600)
          .default(900)
          .describe('a PENDING entry not replayed for this long is rung again by the sweep'),
        maxRedrivePerSweep: z
          .number()
          .int()
          .min(1)
          .max(100_000)
          .default(1000)
          .describe('entries one sweep rings again at most'),
      })
      .strict()
      .default({ groupsPerLane: 16, redriveAfterSeconds: 900, maxRedrivePerSweep: 1000 }),
    peers: z
      .array(peerSchema)
      .default([])
      .refine(uniquePeerNames, 'peer names must be unique')
      .describe('the WebDAV servers changes are replayed to'),
    sources: z
      .array(sourceSchema)
      .default([])
      .describe(
        'read-only WebDAV views of a primary that verify and resync jobs may compare with (`from`), never replayed ' +
          'to (docs/convergence.md)',
      ),
    vfs: vfsLocations,
    replicationUser,
    autoPlay,
    deleteGuard,
    echoWindowSeconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(120)
      .describe('how long an applied replica is remembered to recognise its echo (active-active), in seconds'),
    auth: z
      .object({
        adminToken: secret
          .optional()
          .describe(
            'operator token (also accepted on node endpoints); default `$VFS_RELAY_ADMIN_TOKEN`, else one is ' +
              'generated into `<journal>/admin-token` (required in cloud mode)',
          ),
        nodeTokens: z.record(name, secret).default({}).describe('node name → token (each a secret)'),
      })
      .strict()
      .default({ nodeTokens: {} }),
    replay: z
      .object({
        concurrency: z.number().int().min(1).max(256).default(8).describe('requests in flight per peer'),
        requestTimeoutSeconds: z
          .number()
          .int()
          .min(1)
          .max(86_400)
          .default(60)
          .describe('per request to a peer (headers, and between body chunks), in seconds'),
      })
      .strict()
      .default({ concurrency: 8, requestTimeoutSeconds: 60 }),
    limits: z
      .object({
        maxUploadBytes: z
          .number()
          .int()
          .min(0)
          .default(2 ** 40)
          .describe('largest upload body accepted, in bytes (413 above; default 1 TiB)'),
        ...nodeLimits.shape,
      })
      .strict()
      .default({ maxUploadBytes: 2 ** 40, ...NODE_LIMIT_DEFAULTS }),
  })
  .strict();

/** True when the configuration asks for cloud mode (an S3 journal or an SQS queue). */
export function isCloudMode(config: { journal: string; queue?: string | undefined }): boolean {
  return config.journal.startsWith('s3://') || config.queue !== undefined;
}

/**
 * What cloud mode needs beyond the field rules: both halves (S3 journal and SQS queue) and an admin token — there
 * is no local folder to keep a generated one in. Each problem names its key. `cloudOnly`: the caller runs cloud
 * mode whatever the config says (the Lambda functions).
 */
export function cloudModeProblems(
  config: { journal: string; queue?: string | undefined; auth: { adminToken?: unknown } },
  cloudOnly = false,
): { path: string[]; message: string }[] {
  if (!cloudOnly && !isCloudMode(config)) return [];
  const problems: { path: string[]; message: string }[] = [];
  if (!config.journal.startsWith('s3://')) {
    problems.push({ path: ['journal'], message: 'cloud mode needs an s3://bucket/prefix journal' });
  }
  if (config.queue === undefined) {
    problems.push({ path: ['queue'], message: 'an s3:// journal needs an SQS FIFO queue URL in "queue"' });
  }
  if (config.auth.adminToken === undefined) {
    problems.push({
      path: ['auth', 'adminToken'],
      message: 'required in cloud mode (set it, or VFS_RELAY_ADMIN_TOKEN)',
    });
  }
  return problems;
}

export const configSchema = objectSchema
  .superRefine((config, ctx) => {
    for (const problem of cloudModeProblems(config)) ctx.addIssue({ code: 'custom', ...problem });
    for (const problem of sourceNameProblems(config)) ctx.addIssue({ code: 'custom', ...problem });
  })
  .meta({
    title: 'vfs-relay configuration',
    description: 'The config file of `vfs-relay serve` (docs/configuration.md).',
  });

export type ConfigFile = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
