import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';

/**
 * Where `text` stops being JSON — `comma expected at line 4, column 17` — and never the text around it. The
 * message of `JSON.parse` quotes the bytes near the error ("Unexpected token 'S', ..."assword": Sup3rSecre"...),
 * and those may be a secret of a config file or a document's password hash, which then reach a terminal, a log
 * or an HTTP answer. Used once `JSON.parse` has refused the text.
 */
export function jsonErrorWhere(text: string): string {
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return 'somewhere the relay cannot point at';
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  const what = printParseErrorCode(first.error)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return `${what} at line ${line}, column ${column}`;
}
