import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { checkConfigDocument } from '../../src/api/config-document.js';
import { loadConfig } from '../../src/config/load.js';
import { jsonErrorWhere } from '../../src/core/json-error.js';
import { CONFIG_ENV, cloudConfigFromEnv } from '../../src/runtime/cloud/env.js';
import { createEdgeRelay } from '../../src/runtime/edge/relay.js';
import { tempDir } from '../support/tmp.js';

// JSON.parse's message quotes the text around the error ("Unexpected token 'S', ..."assword": Sup3rSecre"...): an
// inline secret with a quote forgotten was printed by `config check` and `serve`, logged at a cold start, and a
// users document's password hash was sent back in the 422 (and stored by the agent in refused.jsonl). Found by a
// review. The relay now says where the JSON breaks, and nothing of what is there.
const SECRET = 'Sup3rSecretPeerPassw0rd';
const BROKEN = `{\n  "peers": [\n    { "name": "p", "url": "https://dav.example/", "password": ${SECRET}" }\n  ]\n}`;

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(() => tmp.remove());

const messageOf = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('no error');
};

it('says where the JSON breaks, never what is there', () => {
  expect(jsonErrorWhere(BROKEN)).toBe('invalid symbol at line 3, column 63');
  expect(jsonErrorWhere('{"a": 1,\n "b" 2}')).toBe('colon expected at line 2, column 6');
  expect(jsonErrorWhere('{"a": 1,}')).toBe('property name expected at line 1, column 9');
  expect(jsonErrorWhere('')).toBe('value expected at line 1, column 1');
});

it('a config file, the cloud config and the edge config that are not JSON: the reason names no secret', () => {
  writeFileSync(join(tmp.dir, 'relay.json'), BROKEN);
  const messages = [
    messageOf(() => loadConfig('relay.json', {}, tmp.dir)),
    messageOf(() => cloudConfigFromEnv({ [CONFIG_ENV]: BROKEN })),
    messageOf(() => createEdgeRelay({ [CONFIG_ENV]: BROKEN })),
  ];
  expect(messages[0]).toBe(
    `config: ${join(tmp.dir, 'relay.json')} is not valid JSON (invalid symbol at line 3, column 63)`,
  );
  expect(messages[1]).toBe(`config: ${CONFIG_ENV} is not valid JSON (invalid symbol at line 3, column 63)`);
  expect(messages[2]).toContain('is not valid JSON (invalid symbol at line 3, column 63)');
  for (const message of messages) expect(message).not.toContain(SECRET.slice(0, 5));
});

it('a JSON configuration document refused: the 422 quotes nothing of it (a password hash)', () => {
  const hash = '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW';
  const message = messageOf(() =>
    checkConfigDocument(new TextEncoder().encode(`{"user":"john","password": ${hash}"}`), 'application/json'),
  );
  expect(message).toBe('the document is not valid JSON (invalid symbol at line 1, column 28)');
});
