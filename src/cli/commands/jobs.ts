import type { Difference, JobView } from '../../core/jobs/job.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { bytes, print, table, terminalSafe } from '../format.js';
import { progressLine, type Sample, sample } from '../job-progress.js';
import { OperatorClient } from '../operator-client.js';

interface RelayOptions {
  relay: string;
  token?: string;
  json?: boolean;
}

interface JobOptions extends RelayOptions {
  from: string;
  path?: string;
  checksum?: boolean;
}

interface ResyncOptions extends JobOptions {
  delete?: boolean;
  dryRun?: boolean;
  detach?: boolean;
}

interface Page<T> {
  items: T[];
  next: string | null;
}

const FIRST_DIFFERENCES = 20;
const POLL_MS = 500;
/** Without a terminal, a progress line at most this often. */
const PLAIN_EVERY_MS = 5000;

function client(options: RelayOptions): OperatorClient {
  return new OperatorClient(options.relay, options.token ?? process.env.VFS_RELAY_ADMIN_TOKEN);
}

/** `vfs-relay peer verify NAME --from SRC`: 0 identical, 3 differences (summary and the first ones printed). */
export async function peerVerify(name: string, options: JobOptions): Promise<void> {
  const api = client(options);
  const started = await api.post<{ id: string }>(`/v1/peers/${encodeURIComponent(name)}/verify`, {
    from: options.from,
    ...(options.path ? { path: options.path } : {}),
    ...(options.checksum ? { checksum: true } : {}),
  });
  const job = await follow(api, started.id, options.json);
  const first = await differences(api, job.id, FIRST_DIFFERENCES);
  if (options.json) print(JSON.stringify({ job, differences: first.items }, null, 2));
  else {
    print(summary(job));
    if (first.items.length > 0) print(`\n${differenceTable(first.items)}`);
    if (first.next) print(`… more: vfs-relay jobs show ${job.id} --differences 1000`);
  }
  if (job.status !== 'DONE') throw new CliError(`verify ${job.status}: ${job.error ?? 'see vfs-relay jobs show'}`);
  // Names left out of the comparison: the trees are not shown identical either.
  const found = job.counts.missing + job.counts.different + job.counts.extra + (job.counts.unsupported ?? 0);
  if (found > 0) process.exitCode = EXIT.DIFFERENCES;
}

/** `vfs-relay peer resync NAME --from SRC`: follows the job (or returns its id with --detach). */
export async function peerResync(name: string, options: ResyncOptions): Promise<void> {
  const api = client(options);
  const started = await api.post<{ id: string; kind: string; status: string }>(
    `/v1/peers/${encodeURIComponent(name)}/resync`,
    {
      from: options.from,
      ...(options.path ? { path: options.path } : {}),
      ...(options.checksum ? { checksum: true } : {}),
      ...(options.delete ? { delete: true } : {}),
      ...(options.dryRun ? { dryRun: true } : {}),
    },
  );
  if (options.detach) {
    if (options.json) print(JSON.stringify(started, null, 2));
    else print(started.id);
    return;
  }
  const job = await follow(api, started.id, options.json);
  if (options.json) print(JSON.stringify(job, null, 2));
  else print(summary(job));
  if (job.status !== 'DONE') throw new CliError(`resync ${job.status}: ${job.error ?? 'see vfs-relay jobs show'}`);
  if (job.counts.failed > 0) {
    throw new CliError(`resync finished with ${job.counts.failed} failed writes: vfs-relay jobs show ${job.id}`);
  }
}

export async function jobsList(options: RelayOptions & { limit: string }): Promise<void> {
  const page = await client(options).get<Page<JobView>>(`/v1/jobs?limit=${Number.parseInt(options.limit, 10)}`);
  if (options.json) return print(JSON.stringify(page.items, null, 2));
  if (page.items.length === 0) return print('No jobs.');
  print(
    table(
      ['ID', 'KIND', 'PEER', 'FROM', 'PATH', 'STATUS', 'STARTED', 'COUNTS'],
      page.items.map((j) => [j.id, j.kind, j.peer, j.from, j.path, j.status, j.startedAt, shortCounts(j)]),
    ),
  );
}

export async function jobsShow(id: string, options: RelayOptions & { differences: string }): Promise<void> {
  const api = client(options);
  const job = await api.get<JobView>(`/v1/jobs/${encodeURIComponent(id)}`);
  const page = await differences(api, id, Number.parseInt(options.differences, 10));
  if (options.json) return print(JSON.stringify({ job, differences: page.items }, null, 2));
  print(summary(job));
  print('');
  print(table(['COUNT', 'VALUE'], Object.entries(job.counts)));
  if (page.items.length > 0) print(`\n${differenceTable(page.items)}`);
  if (page.next) print(`… more differences (GET /v1/jobs/${id}/differences?cursor=${page.next})`);
}

export async function jobsCancel(id: string, options: RelayOptions): Promise<void> {
  const job = await client(options).delete<JobView>(`/v1/jobs/${encodeURIComponent(id)}`);
  if (options.json) return print(JSON.stringify(job, null, 2));
  print(`cancelled ${id} (${job.kind} of ${job.peer}): ${shortCounts(job)}`);
}

/**
 * Polls the job until it ends. On a terminal: one progress line rewritten in place; otherwise (logs, pipes) a
 * plain line when something changed, at most every few seconds. Nothing with --json.
 */
async function follow(api: OperatorClient, id: string, quiet: boolean | undefined): Promise<JobView> {
  const tty = process.stderr.isTTY === true && !quiet;
  let first: Sample | undefined;
  let lastPlain = 0;
  let lastLine = '';
  for (;;) {
    const job = await api.get<JobView>(`/v1/jobs/${encodeURIComponent(id)}`);
    const now = sample(job, Date.now());
    first ??= now;
    const line = progressLine(job, first, now);
    if (tty) process.stderr.write(`\r${terminalSafe(line)}\u001b[K`);
    else if (!quiet && job.status === 'RUNNING' && now.at - lastPlain >= PLAIN_EVERY_MS && line !== lastLine) {
      process.stderr.write(`${terminalSafe(line)}\n`);
      lastPlain = now.at;
      lastLine = line;
    }
    if (job.status !== 'RUNNING') {
      if (tty) process.stderr.write('\n');
      return job;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function differences(api: OperatorClient, id: string, limit: number): Promise<Page<Difference>> {
  if (limit <= 0) return { items: [], next: null };
  return api.get<Page<Difference>>(`/v1/jobs/${encodeURIComponent(id)}/differences?limit=${Math.min(limit, 1000)}`);
}

function summary(job: JobView): string {
  const c = job.counts;
  const lines = [
    `${job.kind} ${job.id}: ${job.peer} <- ${job.from} ${job.path}: ${job.status}${job.error ? ` (${job.error})` : ''}`,
    `scanned ${c.scanned}, same ${c.same}, missing ${c.missing}, different ${c.different}, extra ${c.extra}` +
      (c.unsupported ? `; ${c.unsupported} not compared (names the relay cannot replicate: see its log)` : ''),
  ];
  if (job.kind === 'resync') {
    lines.push(
      `copied ${c.copied}, deleted ${c.deleted}, held ${c.held}, skipped ${c.skipped}, failed ${c.failed}; ` +
        `${bytes(job.bytes.copied)} of ${bytes(job.bytes.total)}${job.options.dryRun ? ' (dry run: nothing changed)' : ''}`,
    );
  }
  return lines.join('\n');
}

function shortCounts(job: JobView): string {
  const c = job.counts;
  const found = `${c.missing}m ${c.different}d ${c.extra}x`;
  return job.kind === 'resync' ? `${found} → ${c.copied} copied ${c.deleted} deleted ${c.failed} failed` : found;
}

function differenceTable(items: readonly Difference[]): string {
  const describe = (side: Difference['source']) =>
    side
      ? `${side.type}${side.size !== undefined ? ` ${side.size}` : ''}${side.modified ? ` ${side.modified}` : ''}`
      : '-';
  return table(
    ['KIND', 'PATH', 'SOURCE', 'PEER', 'WHY'],
    items.map((d) => [d.kind, d.path, describe(d.source), describe(d.peer), d.reason ?? '']),
  );
}
