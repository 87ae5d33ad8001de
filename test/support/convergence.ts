import { chown, mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ApachePeer } from './apache.js';
import { ADMIN_TOKEN, auth, jsonHeaders } from './relay.js';

/**
 * Trees made directly on an Apache server's disk (a source, or divergence on a peer), owned like the document
 * root so that Apache (www-data when tests run as root) can change them later.
 */
export async function writeTree(
  server: ApachePeer,
  files: Record<string, string | Buffer>,
  modified?: Date,
): Promise<void> {
  const { uid, gid } = await stat(server.root);
  for (const [rel, body] of Object.entries(files)) {
    const full = join(server.root, rel);
    await makeDirs(dirname(full), server.root, uid, gid);
    if (rel.endsWith('/')) continue;
    await writeFile(full, body);
    await chown(full, uid, gid);
    if (modified) await utimes(full, modified, modified);
  }
}

/** Makes a folder (and its parents) on the server's disk. */
export async function makeFolder(server: ApachePeer, rel: string): Promise<void> {
  const { uid, gid } = await stat(server.root);
  await makeDirs(join(server.root, rel), server.root, uid, gid);
}

export async function removePath(server: ApachePeer, rel: string): Promise<void> {
  await rm(join(server.root, rel), { recursive: true, force: true });
}

async function makeDirs(dir: string, root: string, uid: number, gid: number): Promise<void> {
  if (dir === root || !dir.startsWith(root)) return;
  await makeDirs(dirname(dir), root, uid, gid);
  try {
    await mkdir(dir, { mode: 0o755 });
    await chown(dir, uid, gid);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** A server as a `sources` entry of the relay's configuration. */
export function sourceConfig(server: ApachePeer, name: string) {
  return { name, url: server.url, username: server.username, password: server.password };
}

export interface JobAnswer {
  id: string;
  kind: string;
  peer: string;
  from: string;
  path: string;
  status: string;
  counts: {
    scanned: number;
    same: number;
    missing: number;
    different: number;
    extra: number;
    copied: number;
    deleted: number;
    held: number;
    failed: number;
    skipped: number;
  };
  bytes: { total: number; copied: number };
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

export interface DifferenceAnswer {
  path: string;
  kind: 'missing' | 'different' | 'extra';
  source: { type: string; size?: number; modified?: string } | null;
  peer: { type: string; size?: number; modified?: string } | null;
  reason?: string;
}

/** Starts a job through the API and returns its id. */
export async function startJob(
  relayUrl: string,
  kind: 'verify' | 'resync',
  peer: string,
  body: Record<string, unknown>,
): Promise<string> {
  const res = await fetch(`${relayUrl}/v1/peers/${peer}/${kind}`, {
    method: 'POST',
    headers: jsonHeaders(ADMIN_TOKEN),
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as { id: string; status: string };
  if (res.status !== 202) throw new Error(`POST ${kind}: ${res.status} ${JSON.stringify(answer)}`);
  return answer.id;
}

export async function getJob(relayUrl: string, id: string): Promise<JobAnswer> {
  const res = await fetch(`${relayUrl}/v1/jobs/${id}`, { headers: auth(ADMIN_TOKEN) });
  if (res.status !== 200) throw new Error(`GET job ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as JobAnswer;
}

/** Waits (bounded) until the job is no longer RUNNING and returns it. */
export async function jobEnd(relayUrl: string, id: string, timeoutMs = 60_000): Promise<JobAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(relayUrl, id);
    if (job.status !== 'RUNNING') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still RUNNING after ${timeoutMs} ms: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every difference of a job, page by page. */
export async function allDifferences(relayUrl: string, id: string, limit = 100): Promise<DifferenceAnswer[]> {
  const items: DifferenceAnswer[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    const res = await fetch(`${relayUrl}/v1/jobs/${id}/differences?${query}`, { headers: auth(ADMIN_TOKEN) });
    if (res.status !== 200) throw new Error(`GET differences: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { items: DifferenceAnswer[]; next: string | null };
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}
