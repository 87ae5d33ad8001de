import { XMLBuilder } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import {
  canonicalFields,
  decodeEntry,
  ENTRY_XML_FIELDS,
  encodeEntry,
  MAX_ENTRY_XML_BYTES,
  parseFields,
} from '../../src/core/entry-xml.js';
import { EntryCodecError } from '../../src/core/errors.js';
import { seeded } from '../support/seeded.js';

const full: JournalEntry = {
  id: '20261127T055429693Z-000000-9f2c1a',
  lane: '0123456789abcdef',
  peer: 'server2',
  location: '/user_homes',
  action: 'rename',
  path: '/user_homes/john/ a & <b> "c" \'d\' ',
  target: '/user_homes/john/日本語 #%.txt',
  size: 1234,
  sha256: 'a'.repeat(64),
  modified: '2026-11-27T05:54:29.693Z',
  user: 'john',
  node: 'node-a',
  contentType: 'application/xml',
  createdAt: '2026-11-27T05:54:29.700Z',
  status: 'CONFLICT',
  attempts: 3,
  lastError: 'MOVE /x: HTTP 412 <Precondition Failed>',
  lastAttemptAt: '2026-11-27T05:55:00.000Z',
  lastStatus: 412,
  repeats: 2,
  bodyEtag: '"9e107d9d372bb6826bd81d3542a419d6"',
};

const NUMBERS = new Set(['size', 'attempts', 'lastStatus', 'repeats']);

/**
 * Every field, in the order the encoder writes them: each one present or not (id, action and path always), text
 * from `text`, a number, or `released` true or false (false is not written).
 */
function randomEntry(random: () => number, text: () => string): JournalEntry {
  const entry: Record<string, unknown> = {};
  for (const field of ENTRY_XML_FIELDS) {
    const roll = random();
    if (roll < 0.3 && !['id', 'action', 'path'].includes(field)) continue;
    if (NUMBERS.has(field)) entry[field] = Math.floor(roll * 1e6);
    else if (field === 'released') entry[field] = roll < 0.65;
    else entry[field] = text();
  }
  return entry as unknown as JournalEntry;
}

describe('config.XML codec', () => {
  it("writes the same bytes as fast-xml-parser's builder, for random entries with markup, blanks and unicode", () => {
    // The encoder is hand-written for speed; the library's builder, configured as it was used before, is the oracle.
    const builder = new XMLBuilder({
      format: true,
      indentBy: '  ',
      ignoreAttributes: false,
      processEntities: true,
      suppressEmptyNode: false,
    });
    const viaLibrary = (entry: JournalEntry) => {
      const change: Record<string, string> = { '@_version': '1' };
      for (const [field, value] of Object.entries(entry)) {
        if (value !== undefined && value !== null && value !== false) change[field] = String(value);
      }
      return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ change })}`;
    };
    const random = seeded(7);
    const alphabet = [...'aZ0 &<>\'";\n\t日#%/', '&amp;', ']]>'];
    const text = () =>
      Array.from({ length: Math.floor(random() * 8) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    for (let i = 0; i < 2_000; i++) {
      // The builder keeps the object's order, which is the encoder's (randomEntry).
      const ordered = randomEntry(random, text);
      expect(encodeEntry(ordered), JSON.stringify(ordered)).toBe(viaLibrary(ordered));
    }
  });

  it('reads the documents it writes without the general parser, and agrees with it on every document it reads', () => {
    // canonicalFields reads only what encodeEntry writes; whatever it reads, fast-xml-parser (the oracle) must read
    // to the same fields. Random entries, then the same documents with random edits: characters XML treats
    // specially, control characters, carriage returns, lone surrogates, entities, reordered or repeated elements.
    const random = seeded(11);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const alphabet = [...'aZ0 &<>\'";\n\t日#%/=?!-]', '&amp;', '&lt;', ']]>', '\ud800', '\ufffe', '\u2028', '😀'];
    // What the fast path leaves to the parser: carriage returns, control characters, empty text.
    const oddities = ['\r', '\r\n', '\u0000', '\u0007', '\u007f', '\u001b'];
    const text = () =>
      random() < 0.01
        ? ''
        : Array.from({ length: 1 + Math.floor(random() * 8) }, () =>
            random() < 0.003 ? pick(oddities) : pick(alphabet),
          ).join('');
    const edits = [
      ...alphabet,
      ...oddities,
      ...['<', '</', '>', '&', ';', '&#65;', '&nbsp;', '&amp', '<!-- x -->', '<![CDATA[x]]>', '  <user>x</user>\n'],
      ...['<x/>', 'version="2"', ' ', '\n'],
    ];
    let read = 0;
    let readEdited = 0;
    let canonical = 0;
    for (let i = 0; i < 3_000; i++) {
      let xml = encodeEntry(randomEntry(random, text));
      if (i % 2 === 1) {
        for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
          const at = Math.floor(random() * xml.length);
          const cut = random() < 0.5 ? 0 : 1 + Math.floor(random() * 4);
          xml = xml.slice(0, at) + (random() < 0.8 ? pick(edits) : '') + xml.slice(at + cut);
        }
      } else {
        canonical += 1;
      }
      const fast = canonicalFields(xml);
      let general: Record<string, unknown> | undefined;
      try {
        general = parseFields(xml);
      } catch {
        general = undefined;
      }
      if (fast === undefined) {
        // Unedited documents are read by the fast path unless their text holds what it leaves to the parser.
        if (i % 2 === 0) expect(xml, 'an unedited document').toMatch(/\r|[\u0000-\u0008\u000b-\u001f\u007f]|>(<\/)/);
        continue;
      }
      read += 1;
      if (i % 2 === 1) readEdited += 1;
      expect(general, xml).toBeDefined();
      // `#text`: the indentation between the elements, which the parser keeps (trimValues off) and toEntry ignores.
      const { '@_version': version, '#text': _indentation, ...fields } = general!;
      expect(version).toBe('1');
      expect(fields, JSON.stringify(xml)).toEqual(fast);
    }
    // Most unedited documents, and some edited ones (an edit inside a text that keeps it canonical), took the fast
    // path: the comparison above ran on them.
    expect(read).toBeGreaterThan(canonical / 2);
    expect(readEdited).toBeGreaterThan(0);
  });

  it('leaves reordered, repeated and hand-formatted elements to the general parser', () => {
    const xml = encodeEntry(full);
    expect(canonicalFields(xml)).toBeDefined();
    const idLine = `  <id>${full.id}</id>\n`;
    const laneLine = `  <lane>${full.lane}</lane>\n`;
    const reordered = xml.replace(idLine + laneLine, laneLine + idLine);
    expect(reordered).not.toBe(xml);
    expect(canonicalFields(reordered)).toBeUndefined();
    expect(decodeEntry(reordered)).toEqual(full);
    const repeated = xml.replace('  <user>john</user>\n', '  <user>john</user>\n  <user>jane</user>\n');
    expect(canonicalFields(repeated)).toBeUndefined();
    expect(() => decodeEntry(repeated)).toThrow(/<user> must be text/);
    const crlf = xml.replaceAll('\n', '\r\n');
    expect(canonicalFields(crlf)).toBeUndefined();
    expect(decodeEntry(crlf)).toEqual(full);
    // Text the encoder would have escaped, or that is only blanks, is read as the parser reads it.
    for (const user of ['x>y', 'a]]>b', `q"'q`, ' ', '\n\n', '\t', '\ufeff']) {
      const edited = xml.replace('<user>john</user>', `<user>${user}</user>`);
      expect(canonicalFields(edited)?.user, JSON.stringify(user)).toBe(user);
      expect(parseFields(edited).user).toBe(user);
    }
    // A carriage return in a text is a line end XML rewrites: the parser's to read.
    const cr = xml.replace('<user>john</user>', '<user>jo\rhn</user>');
    expect(canonicalFields(cr)).toBeUndefined();
    expect(decodeEntry(cr).user).toBe('jo\nhn');
    const tabs = xml.replaceAll('\n  <', '\n\t<');
    expect(canonicalFields(tabs)).toBeUndefined();
    expect(decodeEntry(tabs)).toEqual(full);
  });

  it('round-trips every field, keeping spaces and markup characters verbatim', () => {
    const xml = encodeEntry(full);
    expect(decodeEntry(xml)).toEqual(full);
    expect(decodeEntry(Buffer.from(xml))).toEqual(full);
  });

  it('round-trips a minimal entry without inventing optional fields', () => {
    const minimal: JournalEntry = {
      id: full.id,
      lane: full.lane,
      peer: 'p',
      location: '/',
      action: 'makedir',
      path: '/x',
      createdAt: full.createdAt,
      status: 'PENDING',
      attempts: 0,
    };
    expect(decodeEntry(encodeEntry(minimal))).toEqual(minimal);
  });

  it('reads an entry written before lastStatus, lastCode, repeats and bodyEtag existed', () => {
    const older = [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<change version="1">',
      `  <id>${full.id}</id><lane>${full.lane}</lane><peer>server2</peer><location>/user_homes</location>`,
      '  <action>upload</action><path>/user_homes/a</path><size>3</size><createdAt>2026-11-27T05:54:29.700Z</createdAt>',
      '  <status>PENDING</status><attempts>2</attempts><lastError>PUT /user_homes/a: HTTP 500</lastError>',
      '</change>',
    ].join('\n');
    const entry = decodeEntry(older);
    expect(entry).toMatchObject({ status: 'PENDING', attempts: 2, size: 3 });
    for (const field of ['lastStatus', 'lastCode', 'repeats', 'bodyEtag'] as const)
      expect(entry[field]).toBeUndefined();
    const timedOut = { ...full, lastStatus: undefined, lastCode: 'UND_ERR_HEADERS_TIMEOUT' };
    delete timedOut.lastStatus;
    expect(decodeEntry(encodeEntry(timedOut))).toEqual(timedOut);
    expect(() => decodeEntry(encodeEntry(full).replace('<repeats>2<', '<repeats>two<'))).toThrow(EntryCodecError);
  });

  it('round-trips size 0 (an empty upload)', () => {
    const empty = { ...full, action: 'upload' as const, target: undefined, size: 0 };
    delete empty.target;
    expect(decodeEntry(encodeEntry(empty)).size).toBe(0);
  });

  it('writes human-readable XML with one element per field and no secrets', () => {
    const xml = encodeEntry(full);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<change version="1">')).toBe(true);
    expect(xml).toContain('<action>rename</action>');
    expect(xml).toContain('&lt;b&gt;');
    expect(xml).not.toMatch(/password|token|authorization/i);
  });

  it.each([
    ['DOCTYPE', '<!DOCTYPE change [<!ENTITY x "y">]><change><id>&x;</id></change>'],
    ['ENTITY', '<change><!ENTITY x SYSTEM "file:///etc/passwd"></change>'],
    ['lowercase doctype', '<!doctype change><change/>'],
  ])('refuses %s declarations', (_name, xml) => {
    expect(() => decodeEntry(xml)).toThrow(EntryCodecError);
    expect(() => decodeEntry(xml)).toThrow(/DOCTYPE or ENTITY/);
  });

  it('refuses oversized documents before parsing them', () => {
    const huge = encodeEntry({ ...full, lastError: 'x'.repeat(MAX_ENTRY_XML_BYTES) });
    expect(() => decodeEntry(huge)).toThrow(/larger than/);
  });

  it('refuses unknown actions and statuses', () => {
    expect(() => decodeEntry(encodeEntry(full).replace('<action>rename</action>', '<action>chmod</action>'))).toThrow(
      /unknown action "chmod"/,
    );
    expect(() => decodeEntry(encodeEntry(full).replace('<status>CONFLICT</status>', '<status>DONE</status>'))).toThrow(
      /unknown status/,
    );
  });

  it('refuses missing required fields, bad numbers, and documents that are not a change', () => {
    expect(() => decodeEntry(encodeEntry(full).replace(/<path>.*<\/path>/, ''))).toThrow(/missing <path>/);
    expect(() => decodeEntry(encodeEntry(full).replace('<size>1234</size>', '<size>-1</size>'))).toThrow(/<size>/);
    expect(() => decodeEntry(encodeEntry(full).replace('<size>1234</size>', '<size>1e3</size>'))).toThrow(/<size>/);
    expect(() => decodeEntry('<other/>')).toThrow(/no <change>/);
    expect(() => decodeEntry('<change><id>')).toThrow(EntryCodecError);
    expect(() => decodeEntry('<change><path><x/></path></change>')).toThrow(EntryCodecError);
  });
});
