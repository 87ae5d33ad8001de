import { XMLParser } from 'fast-xml-parser';
import { assertNoDtd } from '../../core/entry-xml.js';

/** One `<response>` of a PROPFIND answer (RFC 4918 §9.1), with the properties it found (status 200). */
export interface DavResource {
  /** The decoded path of `href`, without a trailing slash (except `/`). */
  path: string;
  collection: boolean;
  size?: number;
  /** ISO 8601, chosen by effectiveModified. */
  modified?: string;
  etag?: string;
  /**
   * Set when the answer does not say what the resource is: a response that carries only an error status (RFC 4918
   * allows `<response><href/><status>HTTP/1.1 403 Forbidden</status></response>` for a member the server cannot
   * describe), or no successful `resourcetype`. The status given, or a description.
   */
  unreadable?: string;
}

/** The namespace of the relay's own dead property, `copied` (see effectiveModified). */
export const RELAY_NAMESPACE = 'urn:vfs-relay:';

/** What a job asks for: type, size, ETag and the three times effectiveModified chooses from. */
export const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>' +
  `<D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:R="${RELAY_NAMESPACE}"><D:prop>` +
  '<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><Z:Win32LastModifiedTime/><R:copied/>' +
  '</D:prop></D:propfind>';

/** The text of `R:copied`: the modified time a copy was given, and when the server received it (its clock). */
export function copiedProperty(modified: string, written: string): string {
  return `${new Date(modified).toISOString()} ${new Date(written).toISOString()}`;
}

/** Times within this many milliseconds are one (HTTP dates have whole seconds). */
const SAME_TIME_MS = 2000;

/**
 * The file's modified time as a job compares it. Many WebDAV servers cannot set a file's own time (mod_dav_fs
 * stamps the time of the PUT, `getlastmodified`), so the relay also writes the time it wants as the dead property
 * `Win32LastModifiedTime` (as Windows clients do), and after a resync's copy the property `R:copied` =
 * "<that time> <when the server stored the copy>". Read back:
 * - `Win32LastModifiedTime` still as the copy left it, and `getlastmodified` still the time of the copy: the
 *   file is the relay's copy, untouched: its time is the Win32 one.
 * - the same, but `getlastmodified` moved: the content was rewritten since (by hand, on the server's disk):
 *   `getlastmodified`.
 * - `Win32LastModifiedTime` changed since the copy, or no copy: a live change set it (mdtm, an upload that
 *   carried a time): the Win32 time, else `getlastmodified`.
 */
export function effectiveModified(props: { win32?: string; live?: string; copied?: string }): string | undefined {
  const win32 = isoDate(props.win32);
  const live = isoDate(props.live);
  const [copiedTime, written] = (props.copied ?? '').split(' ').map((t) => isoDate(t));
  if (win32 && copiedTime && written && sameTime(win32, copiedTime)) {
    return live && !sameTime(live, written) ? live : win32;
  }
  return win32 ?? live;
}

function sameTime(a: string, b: string): boolean {
  return Math.abs(Date.parse(a) - Date.parse(b)) <= SAME_TIME_MS;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => name === 'response' || name === 'propstat',
});

/** Parses a 207 Multi-Status answer. Refuses DTDs (entity expansion). */
export function parseMultistatus(xml: string): DavResource[] {
  assertNoDtd(xml);
  const doc = parser.parse(xml) as { multistatus?: { response?: RawResponse[] } };
  const out: DavResource[] = [];
  for (const response of doc.multistatus?.response ?? []) {
    if (typeof response.href !== 'string') continue;
    const props: RawProps = {};
    let failed: string | undefined = typeof response.status === 'string' ? response.status : undefined;
    for (const propstat of response.propstat ?? []) {
      if (typeof propstat.status === 'string' && !/\s2\d\d\s/.test(`${propstat.status} `)) {
        failed ??= propstat.status;
        continue;
      }
      if (propstat.prop && typeof propstat.prop === 'object') Object.assign(props, propstat.prop);
    }
    const found = resource(hrefPath(response.href), props);
    if (!('resourcetype' in props)) found.unreadable = failed ?? 'no resourcetype';
    out.push(found);
  }
  return out;
}

interface RawResponse {
  href?: unknown;
  status?: unknown;
  propstat?: { status?: unknown; prop?: RawProps }[];
}

interface RawProps {
  resourcetype?: unknown;
  getcontentlength?: unknown;
  getlastmodified?: unknown;
  getetag?: unknown;
  Win32LastModifiedTime?: unknown;
  copied?: unknown;
}

function resource(path: string, props: RawProps): DavResource {
  const type = props.resourcetype;
  const collection = typeof type === 'object' && type !== null && 'collection' in type;
  const out: DavResource = { path, collection };
  const size = Number(text(props.getcontentlength));
  if (!collection && text(props.getcontentlength) !== undefined && Number.isSafeInteger(size) && size >= 0) {
    out.size = size;
  }
  const modified = effectiveModified({
    win32: text(props.Win32LastModifiedTime),
    live: text(props.getlastmodified),
    copied: text(props.copied),
  });
  if (modified) out.modified = modified;
  const etag = text(props.getetag);
  if (etag) out.etag = etag;
  return out;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function isoDate(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** `href` may be an absolute URL or an absolute path, percent-encoded: its decoded path. */
export function hrefPath(href: string): string {
  const raw = new URL(href, 'http://relay.invalid').pathname;
  const segments = raw
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return `/${segments.join('/')}`;
}
