import { z } from '@hono/zod-openapi';
import { CONFIG_SCOPES, ENTRY_STATUSES, FILE_ACTIONS } from '../core/entry.js';
import { LONE_SURROGATE, NOT_XML_CHARACTER } from '../core/paths.js';
import { PEER_STATUSES } from '../core/peer.js';
import { isStamp } from '../core/stamp.js';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'BAD_PATH' }),
      message: z.string().openapi({ example: 'path has a ".." segment' }),
    }),
  })
  .openapi('Error');

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

export const errors = {
  400: errorResponse('Malformed request (BAD_REQUEST, BAD_PATH, MALFORMED_JSON, BAD_ID)'),
  401: errorResponse('No or bad bearer token (UNAUTHENTICATED)'),
  403: errorResponse('The token is valid but not allowed here (FORBIDDEN)'),
  404: errorResponse(
    "No such change or peer (CHANGE_NOT_FOUND, PEER_NOT_FOUND; NOT_FOUND for a body or commit of an unknown change, or of another node's)",
  ),
  409: errorResponse('The change is not in a state that allows this (BODY_MISSING, ALREADY_COMMITTED, NOT_RETRYABLE)'),
  413: errorResponse('Body too large (PAYLOAD_TOO_LARGE)'),
  415: errorResponse('Wrong Content-Type (UNSUPPORTED_MEDIA_TYPE)'),
  422: errorResponse('Valid JSON, refused content (SIZE_MISMATCH, CHECKSUM_MISMATCH, UNSAFE_DOCUMENT, ...)'),
} as const;

const sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits');
const user = z
  .string()
  .min(1)
  .max(256)
  // The paths' rule (C0, DEL, C1), and the line and paragraph separators a log line would break at.
  .regex(/^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/, 'must not contain control characters')
  // It goes into config.XML beside the path, under the path's rules: a lone surrogate would be journaled as U+FFFD
  // (not what the node sent), U+FFFE/U+FFFF would make the XML ill-formed.
  .refine(
    (value) => !LONE_SURROGATE.test(value) && !NOT_XML_CHARACTER.test(value),
    'must be Unicode text (no lone surrogates, U+FFFE or U+FFFF)',
  );

export const NewChangeSchema = z
  .object({
    action: z.enum(FILE_ACTIONS),
    path: z.string().min(1).max(8192).openapi({ example: '/user_homes/john/a.txt' }),
    target: z
      .string()
      .min(1)
      .max(8192)
      .optional()
      .openapi({ description: 'rename only', example: '/user_homes/john/b.txt' }),
    size: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .openapi({ description: 'required for upload' }),
    sha256: sha256.optional().openapi({ description: 'verified at commit when given' }),
    modified: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: 'required for mdtm', example: '2026-11-27T05:54:29.693Z' }),
    user: user.optional().openapi({ description: 'who made the change on the node', example: 'john' }),
  })
  .strict()
  .openapi('NewChange');

export const UploadTargetSchema = z
  .object({
    method: z.literal('PUT'),
    url: z.string(),
    headers: z.record(z.string(), z.string()),
  })
  .openapi('UploadTarget');

export const AcceptedSchema = z
  .object({
    id: z.string(),
    status: z.enum(['AWAITING_BODY', 'PENDING', 'HELD']),
    upload: UploadTargetSchema.optional(),
  })
  .openapi('Accepted');

export const IgnoredSchema = z
  .object({
    status: z.literal('IGNORED'),
    reason: z.enum(['REPLICATION_USER', 'NOT_REPLICATED', 'ECHO', 'NO_PEERS']),
  })
  .openapi('Ignored');

export const BodyReceiptSchema = z
  .object({ id: z.string(), size: z.number().int(), sha256: z.string() })
  .openapi('BodyReceipt');

const PeerEntrySchema = z.object({
  peer: z.string(),
  lane: z.string(),
  status: z.enum(ENTRY_STATUSES),
  attempts: z.number().int(),
  lastError: z.string().optional(),
  lastAttemptAt: z.string().optional(),
  lastStatus: z
    .number()
    .int()
    .optional()
    .openapi({ description: 'HTTP status of the last attempt that did not apply' }),
  lastCode: z
    .string()
    .optional()
    .openapi({ description: 'network error code of the last attempt that did not apply (no answer from the peer)' }),
  repeats: z
    .number()
    .int()
    .optional()
    .openapi({ description: 'attempts in a row that failed the same way while the peer otherwise worked' }),
  blockedBy: z.string().optional(),
});

export const ChangeSchema = z
  .object({
    id: z.string(),
    action: z.string(),
    path: z.string(),
    target: z.string().optional(),
    size: z.number().int().optional(),
    sha256: z.string().optional(),
    modified: z.string().optional(),
    user: z.string().optional(),
    node: z.string().optional(),
    createdAt: z.string(),
    status: z.enum(ENTRY_STATUSES),
    peers: z.array(PeerEntrySchema),
  })
  .openapi('Change');

export const ChangePageSchema = z
  .object({ items: z.array(ChangeSchema), next: z.string().nullable() })
  .openapi('ChangePage');

export const ChangeIdParams = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '20261127T055429693Z-000000-9f2c1a' }),
});

export const UploadKeyQuery = z.object({
  key: z
    .string()
    .max(64)
    .optional()
    .openapi({ param: { name: 'key', in: 'query' }, description: 'the key of the upload URL (part of upload.url)' }),
});

export const PeerQuery = z
  .object({
    peer: z
      .string()
      .min(1, 'peer must name a peer: leave it out to act on every peer')
      .optional()
      .openapi({ param: { name: 'peer', in: 'query' } }),
  })
  // A misspelled filter must not widen a skip or a retry to every peer.
  .strict();

/**
 * A whole number in a query string, strictly: decimal digits only. `Number()` (and z.coerce) would also take
 * `1e3`, `0x10`, ` 12` and `12.0`: what a node means and what the relay understood must not differ.
 */
export const queryInteger = (max: number) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]{0,15})$/, 'must be a whole number written in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(0).max(max));

export const ListQuery = z.object({
  status: z.enum(ENTRY_STATUSES).optional(),
  peer: z.string().optional(),
  node: z.string().optional().openapi({ description: 'only the changes this node sent' }),
  limit: queryInteger(1000)
    .pipe(z.number().min(1, 'must be at least 1'))
    .default(100)
    .openapi({ type: 'integer', minimum: 1, maximum: 1000 }),
  // A change id: the `next` of the page before. Anything else would quietly answer an empty page.
  cursor: z.string().refine(isStamp, 'must be the `next` of an earlier page (a change id)').optional(),
});

export const ConfigParams = z.object({
  scope: z.enum(CONFIG_SCOPES).openapi({ param: { name: 'scope', in: 'path' } }),
  name: z
    .string()
    .min(1)
    .max(255)
    .openapi({ param: { name: 'name', in: 'path' }, example: 'john.XML' }),
});

export const PeerSchema = z
  .object({
    name: z.string(),
    url: z.string(),
    status: z.enum(PEER_STATUSES),
    lastPingAt: z.string().nullable(),
    lastError: z.string().optional(),
    pending: z.number().int(),
    pendingBytes: z.number().int(),
    oldestPendingAt: z.string().nullable(),
    conflicts: z.number().int(),
    failed: z.number().int(),
    blocked: z.number().int(),
    awaitingBody: z.number().int(),
    held: z.number().int().openapi({ description: 'changes the delete guard holds until an operator acts (HELD)' }),
    node: z.string().optional().openapi({ description: 'the node whose own server this peer is' }),
    echoesSuppressed: z.number().int().optional().openapi({
      description: 'changes that node reported which were replicas this relay had applied (IGNORED, ECHO)',
    }),
  })
  .openapi('Peer');

export const PeerParams = z.object({
  name: z.string().openapi({ param: { name: 'name', in: 'path' }, example: 'server2' }),
});

export const NodeQuery = z
  .object({
    node: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a node name (1-64 letters, digits, ".", "_" or "-")')
      .optional()
      .openapi({ param: { name: 'node', in: 'query' }, description: 'only the changes this node sent' }),
  })
  // A misspelled filter must not widen a release or a discard to every node.
  .strict();

export const ReleasedSchema = z.object({ released: z.number().int() }).openapi('Released');
export const DiscardedSchema = z.object({ discarded: z.number().int() }).openapi('Discarded');
