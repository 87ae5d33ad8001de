import { z } from 'zod';
import { normalizePath } from '../core/paths.js';

/** A secret is written inline or, better, named by an environment variable. */
const secret = z.union([z.string().min(1), z.object({ env: z.string().min(1) }).strict()]);
export type SecretSource = z.infer<typeof secret>;

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'use 1-64 letters, digits, ".", "_" or "-"');

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

function isFifoQueueUrl(url: string): boolean {
  try {
    return new URL(url).pathname.endsWith('.fifo');
  } catch {
    return true; // the URL check itself reports it
  }
}

const peer = z
  .object({
    name,
    url: z
      .url({ protocol: /^https?$/ })
      .refine(hasNoCredentials, 'put credentials in username/password, not in the URL'),
    username: z.string().min(1).optional(),
    password: secret.optional(),
    /** The node whose own file server this peer is: that node's changes are not replayed back to it. */
    node: name.optional(),
    pingIntervalSeconds: z.number().int().min(1).max(86_400).default(60),
    /**
     * Replay modified times (PROPPATCH after an upload that carries one, and for mdtm). Off for a peer that does
     * not apply them to its files (Apache mod_dav_fs keeps them as a dead property): one request less per upload.
     */
    setModifiedTime: z.boolean().default(true),
  })
  .strict();

export const configSchema = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8787),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8787 }),
    /** Public base URL of the API when behind a proxy; upload URLs are built from it. */
    publicUrl: z.url().optional(),
    journal: z.string().min(1).default('./data'),
    /** SQS FIFO queue URL: cloud mode's doorbell (needs an s3:// journal). */
    queue: z
      .url({ protocol: /^https?$/ })
      .refine(isFifoQueueUrl, 'an SQS FIFO queue URL (the name ends in .fifo)')
      .optional(),
    /** Cloud mode tuning (see README "Cloud mode"). */
    cloud: z
      .object({
        groupsPerLane: z.number().int().min(1).max(1000).default(16),
        redriveAfterSeconds: z.number().int().min(60).max(1_209_600).default(900),
        maxRedrivePerSweep: z.number().int().min(1).max(100_000).default(1000),
      })
      .strict()
      .default({ groupsPerLane: 16, redriveAfterSeconds: 900, maxRedrivePerSweep: 1000 }),
    peers: z
      .array(peer)
      .default([])
      .refine((peers) => new Set(peers.map((p) => p.name)).size === peers.length, 'peer names must be unique'),
    vfs: z
      .array(z.object({ path: vfsPath, replicate: z.boolean().default(true) }).strict())
      .default([{ path: '/', replicate: true }]),
    replicationUser: z.string().min(1).default('replication'),
    autoPlay: z.boolean().default(false),
    /** How long an applied replica is remembered to recognise its echo from the peer's own node. */
    echoWindowSeconds: z.number().int().min(1).max(86_400).default(120),
    auth: z
      .object({
        adminToken: secret.optional(),
        nodeTokens: z.record(name, secret).default({}),
      })
      .strict()
      .default({ nodeTokens: {} }),
    replay: z
      .object({
        concurrency: z.number().int().min(1).max(256).default(8),
        requestTimeoutSeconds: z.number().int().min(1).max(86_400).default(60),
      })
      .strict()
      .default({ concurrency: 8, requestTimeoutSeconds: 60 }),
    limits: z
      .object({
        /** Largest upload body accepted, in bytes (default 1 TiB). */
        maxUploadBytes: z
          .number()
          .int()
          .min(0)
          .default(2 ** 40),
      })
      .strict()
      .default({ maxUploadBytes: 2 ** 40 }),
  })
  .strict();

export type ConfigFile = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
