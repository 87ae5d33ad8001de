import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { NotFoundError } from '../../core/errors.js';
import type { JobKind } from '../../core/jobs/job.js';
import type { JobService } from '../../core/jobs/job-service.js';
import { type AuthEnv, requireRole, tokenResolver } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import {
  DifferencePageSchema,
  DifferenceQuery,
  JobAcceptedSchema,
  JobIdParams,
  JobListQuery,
  JobPageSchema,
  JobSchema,
  ResyncRequestSchema,
  VerifyRequestSchema,
} from '../job-schemas.js';
import { limitBody, strictJsonText } from '../limits.js';
import { errors, PeerParams } from '../schemas.js';
import { validationHook } from '../validation.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const security = [{ bearer: [] }];

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['operator'],
  summary: 'Verify and resync jobs, newest first',
  security,
  request: { query: JobListQuery },
  responses: { 200: json(JobPageSchema, 'A page of jobs'), ...errors },
});

const show = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['operator'],
  summary: 'One job with its counts',
  security,
  request: { params: JobIdParams },
  responses: { 200: json(JobSchema, 'The job'), ...errors },
});

const differences = createRoute({
  method: 'get',
  path: '/{id}/differences',
  tags: ['operator'],
  summary: 'What the job found different, in the order it found it',
  security,
  request: { params: JobIdParams, query: DifferenceQuery },
  responses: { 200: json(DifferencePageSchema, 'A page of differences'), ...errors },
});

const cancel = createRoute({
  method: 'delete',
  path: '/{id}',
  tags: ['operator'],
  summary: 'Cancel a running job (CANCELLED); its writes not yet replayed are dropped',
  security,
  request: { params: JobIdParams },
  responses: { 200: json(JobSchema, 'The job, CANCELLED'), ...errors },
});

const verify = createRoute({
  method: 'post',
  path: '/{name}/verify',
  tags: ['operator'],
  summary: 'Compare the peer with a source, folder by folder',
  security,
  request: {
    params: PeerParams,
    body: { required: true, content: { 'application/json': { schema: VerifyRequestSchema } } },
  },
  responses: { 202: json(JobAcceptedSchema, 'The job started'), ...errors },
});

const resync = createRoute({
  method: 'post',
  path: '/{name}/resync',
  tags: ['operator'],
  summary: "Bring the peer to the source's state through its lane",
  security,
  request: {
    params: PeerParams,
    body: { required: true, content: { 'application/json': { schema: ResyncRequestSchema } } },
  },
  responses: { 202: json(JobAcceptedSchema, 'The job started'), ...errors },
});

function service(deps: ApiDeps): JobService {
  if (!deps.jobs) throw new NotFoundError('JOBS_UNAVAILABLE', 'this relay runs no verify or resync jobs');
  return deps.jobs;
}

/** `/v1/jobs`: list, show, differences, cancel. */
export function jobRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.use('*', requireRole(tokenResolver(deps.tokens), 'operator'));

  app.openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    return c.json(await service(deps).list(limit, cursor), 200);
  });
  app.openapi(show, async (c) => c.json(await service(deps).get(c.req.valid('param').id), 200));
  app.openapi(differences, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    return c.json(await service(deps).differences(c.req.valid('param').id, Number(cursor ?? 0), limit), 200);
  });
  app.openapi(cancel, async (c) => c.json(await service(deps).cancel(c.req.valid('param').id), 200));
  return app;
}

/** `/v1/peers/{name}/verify|resync`: start a job (mounted beside the other peer routes). */
export function peerJobRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.use('*', requireRole(tokenResolver(deps.tokens), 'operator'));
  app.post('*', limitBody(deps.limits.maxJsonBytes));
  app.post('*', strictJsonText());

  const start = async (kind: JobKind, name: string, body: z.infer<typeof ResyncRequestSchema>) => {
    const job = await service(deps).create(kind, name, body);
    return { id: job.id, kind: job.kind, status: 'RUNNING' as const };
  };
  app.openapi(verify, async (c) => c.json(await start('verify', c.req.valid('param').name, c.req.valid('json')), 202));
  app.openapi(resync, async (c) => c.json(await start('resync', c.req.valid('param').name, c.req.valid('json')), 202));
  return app;
}
