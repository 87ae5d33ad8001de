import { z } from 'zod';
import { ApiError } from './errors.js';

/** The relay's own HTTP API, called in-process (`app.request`): no socket, same auth, same answers. */
export type ApiCall = (path: string, init: RequestInit) => Response | Promise<Response>;

/*
 * What the console and /metrics read, parsed loosely on purpose: figures a relay version does not report yet
 * (`held` before the delete guard) read as 0, statuses are plain strings, and fields added later are ignored.
 */

const count = z.number().int().nonnegative().default(0);

const PeerReadingSchema = z.object({
  name: z.string(),
  url: z.string(),
  status: z.string(),
  lastPingAt: z.string().nullable().default(null),
  lastError: z.string().optional(),
  pending: count,
  pendingBytes: count,
  oldestPendingAt: z.string().nullable().default(null),
  conflicts: count,
  failed: count,
  blocked: count,
  awaitingBody: count,
  held: count,
});
export type PeerReading = z.infer<typeof PeerReadingSchema>;

const ChangeReadingSchema = z.object({
  id: z.string(),
  action: z.string(),
  path: z.string(),
  target: z.string().optional(),
  size: z.number().optional(),
  user: z.string().optional(),
  node: z.string().optional(),
  createdAt: z.string(),
  peers: z.array(
    z.object({
      peer: z.string(),
      status: z.string(),
      attempts: z.number().default(0),
      lastError: z.string().optional(),
      lastAttemptAt: z.string().optional(),
      lastStatus: z.number().optional(),
      lastCode: z.string().optional(),
      repeats: z.number().optional(),
      blockedBy: z.string().optional(),
    }),
  ),
});
export type ChangeReading = z.infer<typeof ChangeReadingSchema>;

const JobReadingSchema = z.object({
  id: z.string(),
  kind: z.string(),
  peer: z.string().optional(),
  from: z.string().optional(),
  path: z.string().optional(),
  status: z.string(),
  counts: z.record(z.string(), z.number()).default({}),
  bytes: z.object({ total: z.number().optional(), copied: z.number().optional() }).default({}),
  startedAt: z.string().optional(),
  finishedAt: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
});
export type JobReading = z.infer<typeof JobReadingSchema>;

/** `GET /v1/jobs` as a list, or as a page of items. */
const JobListSchema = z.union([z.array(JobReadingSchema), z.object({ items: z.array(JobReadingSchema) })]);

/** Operator reads through the API with the caller's own credentials: the console can see no more than they can. */
export class OperatorReads {
  constructor(
    private readonly api: ApiCall,
    private readonly authorization: string,
  ) {}

  async peers(): Promise<PeerReading[]> {
    return z.array(PeerReadingSchema).parse(await this.get('/v1/peers'));
  }

  /** The oldest `limit` changes in `status`, each with every peer's status. */
  async changes(status: string, limit: number): Promise<ChangeReading[]> {
    const query = new URLSearchParams({ status, limit: String(limit) });
    const page = z.object({ items: z.array(ChangeReadingSchema) }).parse(await this.get(`/v1/changes?${query}`));
    return page.items;
  }

  /** Resync and verify jobs, newest first; undefined when this relay has no jobs API. */
  async jobs(): Promise<JobReading[] | undefined> {
    const body = await this.get('/v1/jobs', { absentOn404: true });
    if (body === undefined) return undefined;
    const parsed = JobListSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(500, 'READ_FAILED', `GET /v1/jobs: ${issue?.path.join('.') || 'body'}: ${issue?.message}`);
    }
    return Array.isArray(parsed.data) ? parsed.data : parsed.data.items;
  }

  private async get(path: string, options: { absentOn404?: boolean } = {}): Promise<unknown> {
    const res = await this.api(path, { headers: { authorization: this.authorization, accept: 'application/json' } });
    if (res.status === 404 && options.absentOn404) return undefined;
    if (!res.ok) {
      const code = await res
        .json()
        .then((b) => (b as { error?: { code?: string } }).error?.code)
        .catch(() => undefined);
      throw new ApiError(500, 'READ_FAILED', `GET ${path.split('?')[0]} answered ${res.status} ${code ?? ''}`.trim());
    }
    return res.json();
  }
}
