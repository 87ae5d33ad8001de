import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.js';

/**
 * Everything derived from the config schema (src/config/schema.ts): the JSON Schema the package ships for
 * editors, and the reference table in docs/configuration.md. `npm run schema` rewrites both; a test fails when
 * either is out of date.
 */

export const REPO_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
export const JSON_SCHEMA_FILE = 'schema/vfs-relay.config.schema.json';
export const REFERENCE_DOC = 'docs/configuration.md';
const BEGIN = '<!-- BEGIN config reference: generated from src/config/schema.ts by `npm run schema` -->';
const END = '<!-- END config reference -->';

type JsonSchema = {
  type?: string;
  description?: string;
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
};

/** Draft-07: the draft editors (VS Code, JetBrains) read completely. Input side: what a person writes. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-07' }) as Record<string, unknown>;
}

export function jsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/** One row per setting a person writes: leaves, lists and maps; plain objects only group their keys. */
function rows(schema: JsonSchema, key: string, out: string[][]): void {
  const isSecret = schema.anyOf?.some((s) => s.type === 'object' && s.properties?.env);
  if (schema.type === 'object' && schema.properties && !isSecret) {
    for (const [name, child] of Object.entries(schema.properties)) rows(child, key ? `${key}.${name}` : name, out);
    return;
  }
  out.push([`\`${key}\``, typeOf(schema), defaultOf(schema), schema.description ?? '']);
  if (schema.type === 'array' && schema.items?.type === 'object') rows(schema.items, `${key}[]`, out);
}

function typeOf(schema: JsonSchema): string {
  if (schema.anyOf?.some((s) => s.type === 'object' && s.properties?.env)) return 'secret';
  if (schema.type === 'array') return 'list';
  if (schema.type === 'object') {
    const value = typeof schema.additionalProperties === 'object' ? typeOf(schema.additionalProperties) : 'value';
    return `map of ${value}`;
  }
  if (schema.format === 'uri') return 'URL';
  const range =
    schema.minimum !== undefined && schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER
      ? ` ${schema.minimum}–${schema.maximum}`
      : schema.minimum !== undefined
        ? ` ≥ ${schema.minimum}`
        : '';
  return `${schema.type ?? 'any'}${range}`;
}

function defaultOf(schema: JsonSchema): string {
  return schema.default === undefined ? '—' : `\`${JSON.stringify(schema.default)}\``;
}

export function referenceTable(): string {
  const out: string[][] = [];
  rows(configJsonSchema() as JsonSchema, '', out);
  const cellText = (cell: string) => cell.replaceAll('|', '\\|').replaceAll('\n', ' ');
  return [
    '| key | type | default | meaning |',
    '|---|---|---|---|',
    ...out.map((r) => `| ${r.map(cellText).join(' | ')} |`),
  ].join('\n');
}

/** docs/configuration.md with the table between the markers replaced by the one the schema gives now. */
export function referenceDoc(current: string): string {
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${REFERENCE_DOC} has lost its markers (${BEGIN} … ${END})`);
  return `${current.slice(0, begin + BEGIN.length)}\n${referenceTable()}\n${current.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(join(REPO_ROOT, JSON_SCHEMA_FILE), jsonSchemaText());
  const doc = join(REPO_ROOT, REFERENCE_DOC);
  writeFileSync(doc, referenceDoc(readFileSync(doc, 'utf8')));
  process.stdout.write(`wrote ${JSON_SCHEMA_FILE} and the reference table in ${REFERENCE_DOC}\n`);
}
