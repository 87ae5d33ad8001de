import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { effectiveModified, hrefPath, parseMultistatus } from '../../src/adapters/webdav/multistatus.js';
import { WebDavTreeReader } from '../../src/adapters/webdav/tree-reader.js';

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

  // RFC 4918 §14.24: a response is (href+, status) or (href, propstat+). A member the server cannot describe
  // (permission, a broken mount) may come with a status only. It was read as an empty file, and a resync without
  // --delete then replaced the peer's folder of that name (found by a review).
  it('marks a member the answer does not describe as unreadable, and the tree reader stops on it', async () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
<D:response><D:href>/user_homes/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/user_homes/projects/</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>
<D:response><D:href>/user_homes/odd</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>
<D:response><D:href>/user_homes/ok.txt</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>`;
    expect(parseMultistatus(xml)).toEqual([
      { path: '/user_homes', collection: true },
      { path: '/user_homes/projects', collection: false, unreadable: 'HTTP/1.1 403 Forbidden' },
      { path: '/user_homes/odd', collection: false, unreadable: 'HTTP/1.1 404 Not Found' },
      { path: '/user_homes/ok.txt', collection: false },
    ]);

    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
        res.end(xml);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const reader = new WebDavTreeReader('server2', { url: `http://127.0.0.1:${port}/`, connections: 1 } as never);
    try {
      await expect(reader.list('/user_homes')).rejects.toThrow(
        'server2: PROPFIND /user_homes could not describe /user_homes/projects (HTTP/1.1 403 Forbidden)',
      );
    } finally {
      await reader.close();
      server.close();
    }
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
