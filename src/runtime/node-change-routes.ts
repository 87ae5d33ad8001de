import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPException } from 'hono/http-exception';
import { type Caller, callerNode, tokenResolver } from '../api/auth.js';
import type { ApiDeps } from '../api/deps.js';
import { decodeJsonText } from '../api/limits.js';
import { serverBase, submitChange } from '../api/routes/changes.js';
import { NewChangeSchema } from '../api/schemas.js';
import { invalidInput } from '../api/validation.js';
import { uploadNotFound } from '../core/intake.js';
import { receiveAtMost } from '../core/receive.js';
import { isStamp } from '../core/stamp.js';
import { localOrigin, requestBody } from './node-request-bodies.js';
import { answer, type NodeRoute, plainHost, singleHeader, takeCaller } from './node-upload-route.js';

const CHANGES = '/v1/changes';
const PREFIX = '/v1/changes/';
/**
 * The media types the app's route lets through to its JSON validator (@hono/zod-openapi's check of the whole
 * header; anything else is 415 there), of which the route takes `application/json` itself.
 */
const JSON_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
/** `{id}/body?key=…` with a key as the relay makes them (22 base64url characters), or `{id}/commit`. */
const BODY = /^([0-9A-Za-z-]{33})\/body\?key=([A-Za-z0-9_-]{22})$/;
const COMMIT = /^([0-9A-Za-z-]{33})\/commit$/;

/**
 * `POST /v1/changes`, `PUT /v1/changes/{id}/body?key=…` and `POST /v1/changes/{id}/commit`, the three requests of
 * the three-request upload (the body to the relay's own upload URL), answered straight from Node's request as
 * `POST /v1/uploads` is (node-upload-route.ts): no web Request, no Hono context, router, middleware or validators.
 * They run the steps of the app's routes (api/routes/changes.ts) with the same parts — the token check and rate
 * limit, the upload key, the schema, the intake, the error answers and their log lines — and take only a request
 * in the plainest form: the exact path, a change id in its documented form, for the change a JSON body of declared
 * length within the limit, for the body exactly one `key`, for the commit no query (a body it ignores, as the app
 * does), a plain Host, one Authorization header with a known token within its rate limit. Anything else goes to
 * the app untouched and is answered there as before; test/integration/node-change-routes compares both answers.
 * One difference is left: after answering a commit whose (ignored) body is still arriving, the connection stays
 * open while Node discards the rest, where the app's server closes it after 500 ms.
 *
 * `deps.uploadKeys` must be the app's own (a relay without an admin token makes random ones): without it, the body
 * route leaves every request to the app.
 */
export function nodeChangeRoutes(deps: ApiDeps): NodeRoute {
  const resolve = tokenResolver(deps.tokens);
  const keys = deps.uploadKeys;

  /** The caller of a request with a plain Host the route may take (see takeCaller), or undefined: the app's. */
  function caller(req: IncomingMessage): Caller | undefined {
    const host = req.headers.host;
    if (host === undefined || !plainHost(host)) return undefined;
    return takeCaller(req, resolve, deps.rateLimiter);
  }

  /**
   * `POST /v1/changes` with a JSON body of a declared length within the limit. The body is read here; from then on
   * every refusal is this route's, made as the app makes it (malformed JSON, the schema's first issue).
   */
  function submit(req: IncomingMessage, res: ServerResponse): boolean {
    if (!keys || (deps.publicUrl === undefined && deps.listenUrl?.() === undefined)) return false;
    const type = singleHeader(req, 'content-type');
    if (type === undefined || !JSON_TYPE.test(type) || type.split(';', 1)[0]!.toLowerCase() !== 'application/json') {
      return false;
    }
    const length = singleHeader(req, 'content-length');
    if (length === undefined || !/^\d{1,9}$/.test(length) || Number(length) > deps.limits.maxJsonBytes) return false;
    if (req.headers['transfer-encoding'] !== undefined) return false;
    const who = caller(req);
    if (!who) return false;
    answer(deps, req, res, 'POST', CHANGES, async () => {
      const text = decodeJsonText(await receiveAtMost(requestBody(req), deps.limits.maxJsonBytes));
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw new HTTPException(400, { message: 'Malformed JSON in request body' }); // hono's validator's words
      }
      const parsed = await NewChangeSchema.safeParseAsync(value);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      // Defined: see the first line of submit.
      const base = () => serverBase(deps, () => localOrigin(req))!;
      const { status, body } = await submitChange(deps, keys, parsed.data, who, base);
      return { status, value: body };
    });
    return true;
  }

  return (req, res) => {
    const url = req.url ?? '';
    if (url === CHANGES) return req.method === 'POST' && submit(req, res);
    if (!url.startsWith(PREFIX)) return false;
    const rest = url.slice(PREFIX.length);
    if (req.method === 'PUT') {
      const match = keys && BODY.exec(rest);
      if (!match || !isStamp(match[1]!)) return false;
      const who = caller(req);
      if (!who) return false;
      answer(deps, req, res, 'PUT', url, async () => {
        const id = match[1]!;
        // The key first, as the app does: without it, a change id says nothing about the change.
        if (!keys!.matches(id, match[2])) throw uploadNotFound(id);
        const digest = await deps.intake.writeBody(id, requestBody(req), callerNode(who));
        return { status: 200, value: { id, size: digest.size, sha256: digest.sha256 } };
      });
      return true;
    }
    if (req.method === 'POST') {
      const match = COMMIT.exec(rest);
      if (!match || !isStamp(match[1]!)) return false;
      const who = caller(req);
      if (!who) return false;
      answer(deps, req, res, 'POST', url, async () => {
        const id = match[1]!;
        await deps.intake.commit(id, callerNode(who));
        return { status: 200, value: { id, status: 'PENDING' } };
      });
      return true;
    }
    return false;
  };
}
