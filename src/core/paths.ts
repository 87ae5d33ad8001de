import { utf8ByteLength } from './bytes.js';
import { BadPathError } from './errors.js';

/** Longest path we accept, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest single name, in UTF-8 bytes (NAME_MAX on common file systems). */
export const MAX_SEGMENT_BYTES = 255;

// C0 controls, DEL and C1 controls: never part of a name we replicate.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Unicode format characters (category Cf): bidi overrides and isolates, zero-width spaces and joiners, soft
// hyphens, tag characters. Invisible or reordering text, they let one name pose as another on a screen.
export const FORMAT_CHARACTER = /\p{Cf}/u;
// Lone UTF-16 surrogates cannot be encoded as UTF-8, so no peer could store such a name.
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Not characters of XML 1.0: config.XML could not hold a name or a user with them as well-formed XML. */
export const NOT_XML_CHARACTER = /[\ufffe\uffff]/;

/**
 * Validates a replicated path and returns its normal form: absolute, `/`-separated, no empty, `.` or `..`
 * segments. A single trailing slash is accepted (`/a/b/` is the folder `/a/b`) and dropped; nothing else is
 * rewritten, so what we journal is exactly what the node meant. Backslashes are refused because Windows
 * servers read them as separators, and so are segments that percent-decode to `.`/`..` or contain a separator,
 * because some file servers decode names before use.
 */
export function normalizePath(raw: unknown, field = 'path'): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new BadPathError(`${field} must be a non-empty string`);
  if (!raw.startsWith('/')) throw new BadPathError(`${field} must be absolute (start with "/")`);
  if (CONTROL.test(raw)) throw new BadPathError(`${field} contains NUL or control characters`);
  if (LONE_SURROGATE.test(raw)) throw new BadPathError(`${field} is not valid Unicode`);
  if (NOT_XML_CHARACTER.test(raw)) throw new BadPathError(`${field} contains U+FFFE or U+FFFF (not characters)`);
  if (FORMAT_CHARACTER.test(raw)) {
    throw new BadPathError(`${field} contains Unicode format characters (bidi controls, zero-width characters)`);
  }
  if (raw.includes('\\')) throw new BadPathError(`${field} contains a backslash; use "/" as the separator`);
  if (utf8ByteLength(raw) > MAX_PATH_BYTES) {
    throw new BadPathError(`${field} is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const body = raw.length > 1 && raw.endsWith('/') ? raw.slice(1, -1) : raw.slice(1);
  if (body === '') return '/';
  for (const segment of body.split('/')) checkSegment(segment, field);
  return `/${body}`;
}

/** A name of dots and spaces only: Windows drops trailing dots and spaces, so `.. ` or `..%20` is `..` there. */
const DOTS_AND_SPACES = /^[. ]+$/;

function checkSegment(segment: string, field: string): void {
  if (segment === '') throw new BadPathError(`${field} has an empty segment ("//")`);
  if (segment === '.' || segment === '..') throw new BadPathError(`${field} has a "${segment}" segment`);
  if (DOTS_AND_SPACES.test(segment)) {
    throw new BadPathError(
      `${field} has a name of dots and spaces only ("${segment}"), which a Windows server reads as "." or ".."`,
    );
  }
  if (utf8ByteLength(segment) > MAX_SEGMENT_BYTES) {
    throw new BadPathError(`${field} has a name longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  const decoded = safeDecode(segment);
  if (
    DOTS_AND_SPACES.test(decoded) ||
    /[/\\]/.test(decoded) ||
    CONTROL.test(decoded) ||
    FORMAT_CHARACTER.test(decoded)
  ) {
    throw new BadPathError(
      `${field} has a percent-encoded segment that decodes to a separator, dots and spaces only ("."/".."), ` +
        'or a control or format character',
    );
  }
}

function safeDecode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** True when `path` is `base` or lies below it. Both must be normalised. */
export function isSameOrBelow(path: string, base: string): boolean {
  if (base === '/') return true;
  return path === base || path.startsWith(`${base}/`);
}

/** True when one path is the other, or an ancestor or descendant of it. */
export function pathsOverlap(a: string, b: string): boolean {
  return isSameOrBelow(a, b) || isSameOrBelow(b, a);
}

/** Printable ASCII without capital letters: a path of only these is its own fold (see orderKey). */
const FOLDED = /^[\x20-\x40\x5b-\x7e]*$/;

/**
 * A path as the replay order compares it: lower case, Unicode NFC. A case-insensitive peer (IIS on Windows, a
 * macOS server) takes `/Docs/a` and `/docs/a` for one file and `é` composed or not for one letter, so changes to
 * them must go in journal order there; on a case-sensitive peer the fold only makes such changes wait for each
 * other, which never reorders anything.
 */
export function orderKey(path: string): string {
  return FOLDED.test(path) ? path : path.toLowerCase().normalize('NFC');
}

/** The parent folder of a normalised path (`/` for a top-level name and for `/` itself). */
export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}
