import { z } from '@hono/zod-openapi';
import { DIFFERENCE_KINDS, JOB_KINDS, JOB_STATUSES } from '../core/jobs/job.js';
import { isStamp } from '../core/stamp.js';
import { queryInteger } from './schemas.js';

/** OpenAPI schemas of the jobs endpoints (CONTRACT "Resync and verify"). */

const count = z.number().int().min(0);

export const JobCountsSchema = z
  .object({
    scanned: count,
    same: count,
    missing: count,
    different: count,
    extra: count,
    copied: count,
    deleted: count,
    held: count,
    failed: count,
    skipped: count.openapi({
      description: 'writes left out: a live change touched the path, or the peer or source changed there',
    }),
    unsupported: count.optional().openapi({
      description: 'names the relay cannot replicate (it refuses them as paths), found on either side and not compared',
    }),
  })
  .openapi('JobCounts');

export const JobSchema = z
  .object({
    id: z.string().openapi({ example: '20261127T055429693Z-000000-9f2c1a' }),
    kind: z.enum(JOB_KINDS),
    peer: z.string(),
    from: z.string(),
    path: z.string(),
    status: z.enum(JOB_STATUSES),
    options: z.object({ checksum: z.boolean(), delete: z.boolean(), dryRun: z.boolean() }),
    counts: JobCountsSchema,
    bytes: z.object({ total: count, copied: count }),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    error: z.string().nullable(),
  })
  .openapi('Job');

export const JobAcceptedSchema = z
  .object({ id: z.string(), kind: z.enum(JOB_KINDS), status: z.literal('RUNNING') })
  .openapi('JobAccepted');

export const JobPageSchema = z.object({ items: z.array(JobSchema), next: z.string().nullable() }).openapi('JobPage');

const SideSchema = z
  .object({
    type: z.enum(['file', 'dir']),
    size: z.number().int().optional(),
    modified: z.string().optional(),
  })
  .openapi('DifferenceSide');

export const DifferencePageSchema = z
  .object({
    items: z.array(
      z.object({
        path: z.string(),
        kind: z.enum(DIFFERENCE_KINDS),
        source: SideSchema.nullable(),
        peer: SideSchema.nullable(),
        reason: z.enum(['type', 'size', 'modified', 'checksum']).optional(),
      }),
    ),
    next: z.string().nullable(),
  })
  .openapi('DifferencePage');

const from = z.string().min(1).max(64).openapi({ description: 'a source or another peer', example: 'primary' });
const path = z.string().min(1).max(8192).optional().openapi({ description: 'default /', example: '/user_homes/' });
const checksum = z.boolean().optional().openapi({ description: 'compare SHA-256 of both sides (reads every file)' });

export const VerifyRequestSchema = z.object({ from, path, checksum }).strict().openapi('VerifyRequest');

export const ResyncRequestSchema = z
  .object({
    from,
    path,
    checksum,
    delete: z.boolean().optional().openapi({ description: 'also remove what the peer has and the source has not' }),
    dryRun: z.boolean().optional().openapi({ description: 'report what would be done, change nothing' }),
  })
  .strict()
  .openapi('ResyncRequest');

export const JobIdParams = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '20261127T055429693Z-000000-9f2c1a' }),
});

/** `limit` as /v1/changes takes it: decimal digits only (`1e2`, `0x10`, ` 12`, `12.0` are 400), 1 to 1000. */
const pageLimit = () =>
  queryInteger(1000)
    .pipe(z.number().min(1, 'must be at least 1'))
    .default(100)
    .openapi({ type: 'integer', minimum: 1, maximum: 1000 });

export const JobListQuery = z.object({
  limit: pageLimit(),
  cursor: z.string().refine(isStamp, 'must be the `next` of an earlier page (a job id)').optional(),
});

export const DifferenceQuery = z.object({
  limit: pageLimit(),
  cursor: z
    .string()
    .regex(/^\d{1,12}$/, 'a cursor from a previous page')
    .optional(),
});
