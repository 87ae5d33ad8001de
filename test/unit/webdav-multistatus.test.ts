import { describe, expect, it } from 'vitest';
import { effectiveModified, hrefPath, parseMultistatus } from '../../src/adapters/webdav/multistatus.js';

describe('PROPFIND answers', () => {
  it('reads type, size, ETag and times from any namespace prefix, only from 2xx propstats', () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns1="urn:schemas-microsoft-com:">
<D:response xmlns:lp1="DAV:"><D:href>/base/a%20b/</D:href><D:propstat><D:prop>
<lp1:resourcetype><D:collection/></lp1:resourcetype><lp1:getlastmodified>Fri, 04 Dec 2026 16:13:00 GMT</lp1:getlastmodified>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>
<D:propstat><D:prop><D:getcontentlength/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>
<D:response><D:href>http://host/base/a%20b/%C3%BC.txt</D:href><D:propstat><D:prop>
<D:resourcetype/><D:getcontentlength>5</D:getcontentlength><D:getetag>W/"5-66"</D:getetag>
<D:getlastmodified>Fri, 04 Dec 2026 16:13:00 GMT</D:getlastmodified>
<ns1:Win32LastModifiedTime>Tue, 01 Jan 2019 00:00:00 GMT</ns1:Win32LastModifiedTime>
</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>`;
    expect(parseMultistatus(xml)).toEqual([
      { path: '/base/a b', collection: true, modified: '2026-12-04T16:13:00.000Z' },
      { path: '/base/a b/ü.txt', collection: false, size: 5, etag: 'W/"5-66"', modified: '2019-01-01T00:00:00.000Z' },
    ]);
  });

  it('refuses DTDs', () => {
    expect(() => parseMultistatus('<!DOCTYPE x [<!ENTITY a "b">]><multistatus/>')).toThrow(/DOCTYPE/);
  });

  it('hrefPath decodes absolute URLs and paths alike', () => {
    expect(hrefPath('/a/%25b/')).toBe('/a/%b');
    expect(hrefPath('https://h:1/x/y')).toBe('/x/y');
    expect(hrefPath('/')).toBe('/');
  });
});

describe('effectiveModified', () => {
  const copy = '2024-03-01T10:00:00.000Z';
  const written = '2026-12-04T16:13:00.000Z';
  it('a copy left as the relay wrote it has the source time', () => {
    expect(effectiveModified({ win32: copy, live: '2026-12-04T16:13:01Z', copied: `${copy} ${written}` })).toBe(copy);
  });
  it('a copy rewritten since (its own time moved, earlier or later) has its own time', () => {
    expect(effectiveModified({ win32: copy, live: '2025-06-01T00:00:00Z', copied: `${copy} ${written}` })).toBe(
      '2025-06-01T00:00:00.000Z',
    );
  });
  it('a time set by a live change after the copy wins', () => {
    expect(effectiveModified({ win32: '2030-01-01T00:00:00Z', live: written, copied: `${copy} ${written}` })).toBe(
      '2030-01-01T00:00:00.000Z',
    );
  });
  it('without a copy: the Win32 time, else the server time', () => {
    expect(effectiveModified({ win32: copy, live: written })).toBe(copy);
    expect(effectiveModified({ live: written })).toBe(written);
    expect(effectiveModified({})).toBeUndefined();
  });
});
