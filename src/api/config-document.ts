import { SaxesParser } from 'saxes';
import { assertNoDtd } from '../core/entry-xml.js';
import { ContentRefusedError, EntryCodecError } from '../core/errors.js';
import { jsonErrorWhere } from '../core/json-error.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Documents are replayed into other servers' configuration, whose parsers may be lax in their own ways: only one
 * well-formed XML 1.0 document in UTF-8 (one root element, nothing but comments and white space after it, no
 * DOCTYPE, no entity but the five predefined ones, no character XML 1.0 forbids — NUL among them), or valid JSON.
 * Web APIs and a pure-JS parser only (saxes: a strict, non-validating XML 1.0 parser), so the check runs at the
 * edge too.
 */
export function checkConfigDocument(body: Uint8Array, type: 'application/xml' | 'application/json'): void {
  if (body.length === 0) throw new ContentRefusedError('EMPTY_DOCUMENT', 'the document is empty');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ContentRefusedError('BAD_DOCUMENT', 'the document is not valid UTF-8');
  }
  if (type === 'application/json') {
    try {
      JSON.parse(text);
    } catch {
      throw new ContentRefusedError('BAD_DOCUMENT', `the document is not valid JSON (${jsonErrorWhere(text)})`);
    }
    return;
  }
  try {
    assertNoDtd(text);
  } catch (error) {
    if (error instanceof EntryCodecError) throw new ContentRefusedError('UNSAFE_DOCUMENT', error.message);
    throw error;
  }
  const problem = xmlProblem(text);
  if (problem) throw new ContentRefusedError('BAD_DOCUMENT', `the document is not well-formed XML 1.0: ${problem}`);
}

/** The first well-formedness error of `text`, or undefined. */
function xmlProblem(text: string): string | undefined {
  const parser = new SaxesParser();
  let problem: string | undefined;
  parser.on('error', (error) => {
    problem ??= error.message;
  });
  parser.on('xmldecl', (decl) => {
    if (decl.version !== undefined && decl.version !== '1.0') problem ??= `version "${decl.version}" (only 1.0)`;
    if (decl.encoding !== undefined && decl.encoding.toLowerCase() !== 'utf-8') {
      problem ??= `encoding "${decl.encoding}" (only UTF-8)`;
    }
  });
  try {
    parser.write(text).close();
  } catch (error) {
    problem ??= (error as Error).message;
  }
  return problem;
}
