import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { PayloadTooLargeError } from '../../core/errors.js';
import { checkChangeId, uploadNotFound } from '../../core/intake.js';
import { type AuthEnv, type Caller, callerNode, requireRole, tokenResolver } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { limitBody, strictJsonText } from '../limits.js';
import { webRequestBodies } from '../request-body.js';
import {
  AcceptedSchema,
  BodyReceiptSchema,
  ChangeIdParams,
  ChangePageSchema,
  ChangeSchema,
  errors,
  IgnoredSchema,
  ListQuery,
  NewChangeSchema,
  PeerQuery,
  UploadKeyQuery,
} from '../schemas.js';
import { UploadKeys } from '../upload-keys.js';
import { validationHook } from '../validation.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const submit = createRoute({
  method: 'post',
  path: '/',
  tags: ['node'],
  summary: 'Journal one change',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: NewChangeSchema } } } },
  responses: {
    201: json(AcceptedSchema, 'Upload journaled: PUT the body to upload.url, then commit'),
    202: json(AcceptedSchema, 'Change journaled (PENDING; HELD: a delete the delete guard holds for an operator)'),
    200: json(IgnoredSchema, 'Nothing journaled'),
    ...errors,
  },
});

const putBody = createRoute({
  method: 'put',
  path: '/{id}/body',
  tags: ['node'],
  summary: 'The body of an upload, raw bytes (embedded relay; in cloud mode upload.url is a presigned S3 URL)',
  security: [{ bearer: [] }],
  request: {
    params: ChangeIdParams,
    query: UploadKeyQuery,
    body: { content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
  },
  responses: { 200: json(BodyReceiptSchema, 'Body stored durably'), ...errors },
});

const commit = createRoute({
  method: 'post',
  path: '/{id}/commit',
  tags: ['node'],
  summary: 'The body is complete: verify size and checksum, mark PENDING',
  security: [{ bearer: [] }],
  request: { params: ChangeIdParams },
  responses: { 200: json(AcceptedSchema, 'Committed (PENDING)'), ...errors },
});

const abandon = createRoute({
  method: 'post',
  path: '/{id}/abandon',
  tags: ['node'],
  summary: 'Give up an upload not committed yet: it leaves the journal, and what waited behind it goes on',
  security: [{ bearer: [] }],
  request: { params: ChangeIdParams },
  responses: {
    200: json(z.object({ id: z.string(), abandoned: z.literal(true) }), 'Dropped from the journal'),
    ...errors,
  },
});

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['operator'],
  summary: 'Journal entries, oldest first',
  security: [{ bearer: [] }],
  request: { query: ListQuery },
  responses: { 200: json(ChangePageSchema, 'A page of changes'), ...errors },
});

const show = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['operator'],
  summary: "One change with each peer's status",
  security: [{ bearer: [] }],
  request: { params: ChangeIdParams },
  responses: { 200: json(ChangeSchema, 'The change'), ...errors },
});

const retry = createRoute({
  method: 'post',
  path: '/{id}/retry',
  tags: ['operator'],
  summary: 'CONFLICT/FAILED → PENDING; HELD → PENDING (released from the delete guard)',
  security: [{ bearer: [] }],
  request: { params: ChangeIdParams, query: PeerQuery },
  responses: { 200: json(ChangeSchema, 'The change after retry'), ...errors },
});

const skip = createRoute({
  method: 'delete',
  path: '/{id}',
  tags: ['operator'],
  summary: 'Skip (or, for a HELD change, discard): drop the change from the journal',
  security: [{ bearer: [] }],
  request: { params: ChangeIdParams, query: PeerQuery },
  responses: {
    200: json(z.object({ id: z.string(), skipped: z.array(z.string()) }), 'Dropped for these peers'),
    ...errors,
  },
});

export function changeRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  const resolve = tokenResolver(deps.tokens);
  const node = requireRole(resolve, 'node', deps.rateLimiter);
  const operator = requireRole(resolve, 'operator', deps.rateLimiter);
  const uploadKeys = deps.uploadKeys ?? new UploadKeys(deps.tokens.adminToken);

  app.use('/', async (c, next) => (c.req.method === 'POST' ? node(c, next) : operator(c, next)));
  app.post('/', limitBody(deps.limits.maxJsonBytes));
  app.post('/', strictJsonText());
  app.use('/:id/body', node);
  app.use('/:id/commit', node);
  app.use('/:id/abandon', node);
  app.use('/:id/retry', operator);
  app.use('/:id', operator);

  app.openapi(submit, async (c) => {
    const answer = await submitChange(deps, uploadKeys, c.req.valid('json'), c.get('caller'), () => apiBase(deps, c));
    if (answer.status === 200) return c.json(answer.body, 200);
    if (answer.status === 202) return c.json(answer.body, 202);
    return c.json(answer.body, 201);
  });

  app.openapi(putBody, async (c) => {
    const { id } = c.req.valid('param');
    checkChangeId(id);
    // The key first: without it, a change id (sortable, partly predictable) says nothing about the change.
    if (!uploadKeys.matches(id, c.req.valid('query').key)) throw uploadNotFound(id);
    const body = (deps.requestBodies ?? webRequestBodies).body(c);
    const digest = await deps.intake.writeBody(id, body, callerNode(c.get('caller')));
    return c.json({ id, size: digest.size, sha256: digest.sha256 }, 200);
  });

  app.openapi(commit, async (c) => {
    const { id } = c.req.valid('param');
    await deps.intake.commit(id, callerNode(c.get('caller')));
    return c.json({ id, status: 'PENDING' as const }, 200);
  });

  app.openapi(abandon, async (c) => {
    const { id } = c.req.valid('param');
    await deps.intake.abandon(id, callerNode(c.get('caller')));
    return c.json({ id, abandoned: true as const }, 200);
  });

  app.openapi(list, async (c) => {
    const query = c.req.valid('query');
    return c.json(await deps.view.listChanges(query), 200);
  });

  app.openapi(show, async (c) => {
    const { id } = c.req.valid('param');
    await deps.intake.find(id); // validates the id
    return c.json(await deps.view.getChange(id), 200);
  });

  app.openapi(retry, async (c) => {
    const { id } = c.req.valid('param');
    await deps.operator.retry(id, c.req.valid('query').peer);
    return c.json(await deps.view.getChange(id), 200);
  });

  app.openapi(skip, async (c) => {
    const { id } = c.req.valid('param');
    const skipped = await deps.operator.skip(id, c.req.valid('query').peer);
    return c.json({ id, skipped: skipped.map((e) => e.peer) }, 200);
  });

  return app;
}

/**
 * `POST /v1/changes` once its body is valid: journals the change and says what comes next (also the Node server's
 * own route: runtime/node-change-routes.ts). `base`: the base of the upload URL (apiBase), asked for only when one
 * is made.
 */
export async function submitChange(
  deps: Pick<ApiDeps, 'intake' | 'limits' | 'uploadTarget'>,
  uploadKeys: UploadKeys,
  change: z.infer<typeof NewChangeSchema>,
  caller: Caller,
  base: () => string,
) {
  if (change.action === 'upload' && (change.size ?? 0) > deps.limits.maxUploadBytes) {
    throw new PayloadTooLargeError(`uploads are limited to ${deps.limits.maxUploadBytes} bytes`);
  }
  const result = await deps.intake.submit(change, callerNode(caller));
  if (!result.journaled) return { status: 200, body: { status: 'IGNORED' as const, reason: result.reason } } as const;
  if (result.status !== 'AWAITING_BODY')
    return { status: 202, body: { id: result.id, status: result.status } } as const;
  const key = uploadKeys.keyFor(result.id);
  const relayUrl = `${base()}/v1/changes/${result.id}/body?key=${key}`;
  const upload = await deps.uploadTarget(result.entries[0]!, relayUrl);
  return { status: 201, body: { id: result.id, status: result.status, upload } } as const;
}

/**
 * The base of links in answers: publicUrl, else the address the relay listens on (for a wildcard address, the one
 * this connection reached), never the client's Host header; the request's origin only where no server of ours
 * listens (Lambda behind API Gateway).
 */
export function apiBase(deps: Pick<ApiDeps, 'publicUrl' | 'listenUrl' | 'requestBodies'>, c: Context): string {
  const origin = () => (deps.requestBodies ?? webRequestBodies).localOrigin(c);
  return serverBase(deps, origin) ?? new URL(c.req.url).origin;
}

/** apiBase where a server of ours listens (or publicUrl is set); undefined elsewhere. */
export function serverBase(
  deps: Pick<ApiDeps, 'publicUrl' | 'listenUrl'>,
  localOrigin: () => string | undefined,
): string | undefined {
  return (deps.publicUrl ?? listenBase(deps.listenUrl?.(), localOrigin))?.replace(/\/+$/, '');
}

function listenBase(listenUrl: string | undefined, localOrigin: () => string | undefined): string | undefined {
  if (!listenUrl) return undefined;
  const url = new URL(listenUrl);
  if (url.hostname !== '0.0.0.0' && url.hostname !== '[::]') return url.origin;
  return localOrigin() ?? url.origin;
}
