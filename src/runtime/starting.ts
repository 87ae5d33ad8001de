const STARTING = { code: 'STARTING', message: 'the relay is loading its journal; retry in a moment' };

/**
 * What the embedded relay answers while it loads its journal, before its API is up. `GET /livez` says the process
 * is alive (200, as always); `GET /healthz` keeps meaning "ready" and answers 503 with `"status":"starting"`; every
 * other request is asked to come back (`503 STARTING`, `Retry-After: 1`), which the agent and well-behaved clients
 * retry as they would a busy server. Nothing is read or written meanwhile.
 */
export function startingAnswer(request: Request): Response {
  const { pathname } = new URL(request.url);
  const read = request.method === 'GET' || request.method === 'HEAD';
  const headOnly = request.method === 'HEAD';
  if (read && pathname === '/livez') return json(200, { status: 'alive' }, headOnly);
  const body = read && pathname === '/healthz' ? { status: 'starting', error: STARTING } : { error: STARTING };
  // Not `Connection: close`: closing with the body of an upload still arriving resets the connection, and the
  // client sees that instead of this answer. The Node adapter reads and drops what is left of the body (bounded).
  return json(503, body, headOnly, { 'retry-after': '1' });
}

function json(status: number, body: unknown, headOnly: boolean, headers: Record<string, string> = {}): Response {
  return new Response(headOnly ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}
