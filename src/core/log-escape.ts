/**
 * Characters that must never reach a log line raw: controls (C0, DEL, C1), the line and paragraph separators, and
 * Unicode format characters (bidi overrides and isolates, zero-width characters). Raw, they can forge a line, hide
 * text or reorder what an operator reads in a terminal or a log viewer.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cf}/gu;
const NOT_PRINTABLE_ASCII = /[^\u0020-\u007e]/;
/** For text that carries its own controls (a coloured terminal line): only what reorders or hides text. */
const INVISIBLE = /[\u2028\u2029]|\p{Cf}/gu;
/** For a string JSON.stringify writes next (it escapes C0 controls itself): DEL, C1 controls, and INVISIBLE. */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029]|\p{Cf}/gu;

/**
 * `text` with every unsafe character written as `\uXXXX` (each UTF-16 unit): a JSON escape inside a JSON line.
 * `controls: false` leaves C0/C1 controls alone (ANSI colours, the line's own newline).
 */
export function escapeLogText(text: string, options: { controls?: boolean } = {}): string {
  // Printable ASCII holds none of them: most log lines are that, and this test costs a fraction of the Unicode one.
  if (!NOT_PRINTABLE_ASCII.test(text)) return text;
  return escapeMatches(text, options.controls === false ? INVISIBLE : UNSAFE);
}

/**
 * `text` with what JSON.stringify would leave raw (DEL, C1 controls, U+2028/9, format characters) written as
 * `\uXXXX`: for a string value a JSON line carries (the Lambda logger's replacer), whose own newlines JSON escapes.
 */
export function escapeJsonStringValue(text: string): string {
  if (!NOT_PRINTABLE_ASCII.test(text)) return text;
  return escapeMatches(text, RAW_IN_JSON);
}

/** `text` with every match of `pattern` (global) written as `\uXXXX`, one escape per UTF-16 unit. */
export function escapeMatches(text: string, pattern: RegExp): string {
  return text.replace(pattern, (char) => {
    let out = '';
    for (let i = 0; i < char.length; i++) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}
