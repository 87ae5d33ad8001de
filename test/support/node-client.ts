import { createHash } from 'node:crypto';
import type { ScriptChange } from './tree-model.js';

/** Posts script changes to a relay the way a node does (upload: change, body, commit). Throws on any refusal. */
export async function postChange(relayUrl: string, token: string, change: ScriptChange): Promise<string> {
  const auth = { authorization: `Bearer ${token}` };
  const { body, ...fields } = change;
  const payload = body
    ? { ...fields, size: body.length, sha256: createHash('sha256').update(body).digest('hex') }
    : fields;
  const res = await fetch(`${relayUrl}/v1/changes`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  const answer = (await res.json()) as { id: string; upload?: { url: string; headers: Record<string, string> } };
  if (res.status !== 201 && res.status !== 202)
    throw new Error(`POST ${change.path}: ${res.status} ${JSON.stringify(answer)}`);
  if (!answer.upload) return answer.id;
  // fetch sets Content-Length itself; the token goes only to the relay, never to a presigned S3 URL.
  const { 'content-length': _length, ...headers } = answer.upload.headers;
  const sameOrigin = new URL(answer.upload.url).origin === new URL(relayUrl).origin;
  const put = await fetch(answer.upload.url, {
    method: 'PUT',
    headers: { ...headers, ...(sameOrigin ? auth : {}) },
    body,
  });
  if (put.status !== 200) throw new Error(`PUT ${change.path}: ${put.status} ${await put.text()}`);
  const commit = await fetch(`${relayUrl}/v1/changes/${answer.id}/commit`, { method: 'POST', headers: auth });
  if (commit.status !== 200) throw new Error(`commit ${change.path}: ${commit.status} ${await commit.text()}`);
  return answer.id;
}

/** Polls until `check` returns true or the deadline passes (then throws with `describe()`). */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => Promise<string> | string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
