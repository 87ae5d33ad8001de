import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  JSON_SCHEMA_FILE,
  jsonSchemaText,
  REFERENCE_DOC,
  REPO_ROOT,
  referenceDoc,
} from '../../scripts/config-schema.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

// Both files are generated from src/config/schema.ts: when one of these fails, run `npm run schema` and commit.
describe('files generated from the config schema', () => {
  it(`${JSON_SCHEMA_FILE} is what the schema gives now`, () => {
    expect(read(JSON_SCHEMA_FILE)).toBe(jsonSchemaText());
  });

  it(`the reference table in ${REFERENCE_DOC} is what the schema gives now`, () => {
    const doc = read(REFERENCE_DOC);
    expect(doc).toBe(referenceDoc(doc));
  });

  it('ships the schema in the package, for editors', () => {
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.files).toContain('schema');
    const schema = JSON.parse(read(JSON_SCHEMA_FILE));
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['$schema', 'journal', 'peers', 'auth']));
  });

  it('notices a stale table', () => {
    const doc = read(REFERENCE_DOC).replace('| `journal` | string |', '| `journal` | number |');
    expect(referenceDoc(doc)).not.toBe(doc);
  });
});
