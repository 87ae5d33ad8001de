import { XMLParser } from 'fast-xml-parser';
import { fromUtf8, utf8ByteLength } from './bytes.js';
import {
  ACTIONS,
  type Action,
  HOLD_RULES,
  type HoldRule,
  type JournalEntry,
  STORED_STATUSES,
  type StoredStatus,
} from './entry.js';
import { EntryCodecError } from './errors.js';

/** A config.XML is a few hundred bytes; anything near this is corrupt or hostile. */
export const MAX_ENTRY_XML_BYTES = 64 * 1024;
export const ENTRY_XML_VERSION = '1';

/**
 * The order fields are written in config.XML. Every field of JournalEntry appears here; the README documents
 * each one. Text values are written verbatim (escaped), never trimmed, so names with spaces survive.
 */
export const ENTRY_XML_FIELDS = [
  'id',
  'lane',
  'peer',
  'location',
  'action',
  'path',
  'target',
  'size',
  'sha256',
  'modified',
  'user',
  'node',
  'contentType',
  'job',
  'from',
  'fromEtag',
  'ifMatch',
  'ifNoneMatch',
  'hold',
  'released',
  'createdAt',
  'status',
  'attempts',
  'lastError',
  'lastAttemptAt',
  'lastStatus',
  'lastCode',
  'repeats',
  'bodyEtag',
] as const satisfies readonly (keyof JournalEntry)[];

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  processEntities: true,
  htmlEntities: false,
});

/**
 * Writes a config.XML: the declaration, `<change version="1">`, one indented element per field that has a value,
 * in ENTRY_XML_FIELDS order, text escaped (`& < > ' "`). The same bytes as fast-xml-parser's XMLBuilder gives for
 * `{ change: { '@_version': '1', ...fields } }` with `format: true, indentBy: '  '` (a test compares the two on
 * random entries), written directly: every journaled change is encoded at least once on the ingest path, and the
 * general builder was ~5 % of its main thread.
 */
export function encodeEntry(entry: JournalEntry): string {
  let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<change version="${ENTRY_XML_VERSION}">\n`;
  for (const field of ENTRY_XML_FIELDS) {
    const value = entry[field];
    if (value === undefined || value === null || value === false) continue;
    xml += `  <${field}>${escapeText(String(value))}</${field}>\n`;
  }
  return `${xml}</change>\n`;
}

const MARKUP = /[&<>'"]/g;
const ESCAPED: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '"': '&quot;',
};

function escapeText(text: string): string {
  MARKUP.lastIndex = 0;
  return MARKUP.test(text) ? text.replace(MARKUP, (c) => ESCAPED[c]!) : text;
}

/**
 * Decodes a config.XML. Refuses DOCTYPE/entity declarations, oversized text, unknown actions and statuses. A
 * document exactly as encodeEntry writes it (nearly all of them) is read by canonicalFields; anything else —
 * edited by hand, another layout, comments, other entities — by fast-xml-parser, as before.
 */
export function decodeEntry(xml: string | Uint8Array): JournalEntry {
  const text = typeof xml === 'string' ? xml : fromUtf8(xml);
  if (utf8ByteLength(text) > MAX_ENTRY_XML_BYTES) {
    throw new EntryCodecError(`config.XML is larger than ${MAX_ENTRY_XML_BYTES} bytes`);
  }
  return toEntry(canonicalFields(text) ?? parseFields(text));
}

/** The fields of a config.XML by fast-xml-parser (with `@_version`), for any well-formed document. */
export function parseFields(text: string): Record<string, unknown> {
  assertNoDtd(text);
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch (cause) {
    throw new EntryCodecError(`config.XML is not well-formed XML: ${(cause as Error).message}`);
  }
  const change = (doc as { change?: unknown }).change;
  if (!change || typeof change !== 'object') throw new EntryCodecError('config.XML has no <change> element');
  return change as Record<string, unknown>;
}

const PROLOGUE = `<?xml version="1.0" encoding="UTF-8"?>\n<change version="${ENTRY_XML_VERSION}">\n`;
const EPILOGUE = '</change>\n';
const FIELD_ORDER: ReadonlyMap<string, number> = new Map(ENTRY_XML_FIELDS.map((field, i) => [field, i]));
const UNESCAPED: ReadonlyMap<string, string> = new Map(
  Object.entries(ESCAPED).map(([char, entity]) => [entity, char] as const),
);

/**
 * The fields of a config.XML that is byte for byte what encodeEntry writes: the declaration and `<change
 * version="1">`, then one `  <field>text</field>` line per field, each known field at most once and in
 * ENTRY_XML_FIELDS order, text non-empty with no `<`, no carriage return, no control character other than tab and
 * line feed, and `&` only in the five entities encodeEntry writes. Anything else returns undefined, and the general
 * parser decides (a test checks that both agree on random documents). Start-up reads every entry of the journal
 * back; the general parser was ~45 % of that.
 */
export function canonicalFields(text: string): Record<string, string> | undefined {
  if (!text.startsWith(PROLOGUE) || !text.endsWith(EPILOGUE)) return undefined;
  const fields: Record<string, string> = {};
  const end = text.length - EPILOGUE.length;
  let at = PROLOGUE.length;
  let last = -1;
  while (at < end) {
    if (!text.startsWith('  <', at)) return undefined;
    const nameEnd = text.indexOf('>', at + 3);
    if (nameEnd < 0) return undefined;
    const name = text.slice(at + 3, nameEnd);
    const order = FIELD_ORDER.get(name);
    if (order === undefined || order <= last) return undefined;
    last = order;
    // The epilogue's `<` bounds the search; a field's closing tag never reaches into it.
    const valueEnd = text.indexOf('<', nameEnd + 1);
    const closing = `</${name}>\n`;
    if (!text.startsWith(closing, valueEnd)) return undefined;
    const value = unescapeCanonical(text.slice(nameEnd + 1, valueEnd));
    if (value === undefined) return undefined;
    fields[name] = value;
    at = valueEnd + closing.length;
  }
  return fields;
}

/** Control characters other than tab and line feed (and carriage return, which XML rewrites). */
const UNUSUAL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

function unescapeCanonical(raw: string): string | undefined {
  if (raw.length === 0 || UNUSUAL.test(raw)) return undefined;
  let amp = raw.indexOf('&');
  if (amp < 0) return raw;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = raw.indexOf(';', amp);
    const char = semi < 0 ? undefined : UNESCAPED.get(raw.slice(amp, semi + 1));
    if (char === undefined) return undefined;
    out += raw.slice(from, amp) + char;
    from = semi + 1;
    amp = raw.indexOf('&', from);
  }
  return out + raw.slice(from);
}

/** DOCTYPE and ENTITY declarations enable entity expansion attacks (billion laughs, XXE); we never need them. */
export function assertNoDtd(text: string): void {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new EntryCodecError('XML with DOCTYPE or ENTITY declarations is refused');
}

function toEntry(change: Record<string, unknown>): JournalEntry {
  const text = (field: string, required = false): string | undefined => {
    const value = change[field];
    if (value === undefined) {
      if (required) throw new EntryCodecError(`config.XML is missing <${field}>`);
      return undefined;
    }
    if (typeof value !== 'string') throw new EntryCodecError(`config.XML <${field}> must be text`);
    return value;
  };
  const action = text('action', true) as Action;
  if (!ACTIONS.includes(action)) throw new EntryCodecError(`config.XML has an unknown action "${action}"`);
  const status = text('status', true) as StoredStatus;
  if (!STORED_STATUSES.includes(status)) throw new EntryCodecError(`config.XML has an unknown status "${status}"`);
  const entry: JournalEntry = {
    id: text('id', true)!,
    lane: text('lane', true)!,
    peer: text('peer', true)!,
    location: text('location', true)!,
    action,
    path: text('path', true)!,
    createdAt: text('createdAt', true)!,
    status,
    attempts: integer(text('attempts') ?? '0', 'attempts'),
  };
  for (const field of ['size', 'lastStatus', 'repeats'] as const) {
    const value = text(field);
    if (value !== undefined) entry[field] = integer(value, field);
  }
  for (const field of [
    'target',
    'sha256',
    'modified',
    'user',
    'node',
    'contentType',
    'job',
    'from',
    'fromEtag',
    'ifMatch',
    'lastError',
    'lastAttemptAt',
    'lastCode',
    'bodyEtag',
  ] as const) {
    const value = text(field);
    if (value !== undefined) entry[field] = value;
  }
  const hold = text('hold') as HoldRule | undefined;
  if (hold !== undefined) {
    if (!HOLD_RULES.includes(hold)) throw new EntryCodecError(`config.XML has an unknown hold "${hold}"`);
    entry.hold = hold;
  }
  const released = text('released');
  if (released !== undefined) {
    if (released !== 'true') throw new EntryCodecError('config.XML <released> must be "true"');
    entry.released = true;
  }
  const ifNoneMatch = text('ifNoneMatch');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch !== '*') throw new EntryCodecError('config.XML <ifNoneMatch> must be "*"');
    entry.ifNoneMatch = ifNoneMatch;
  }
  return entry;
}

function integer(value: string, field: string): number {
  if (!/^\d{1,16}$/.test(value)) throw new EntryCodecError(`config.XML <${field}> must be a non-negative integer`);
  return Number(value);
}
