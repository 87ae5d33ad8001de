import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v2 as webdav } from 'webdav-server';

export interface DemoSecondary {
  url: string;
  close(): Promise<void>;
}

/**
 * A WebDAV server on loopback serving a local folder: the secondary of `vfs-relay demo`, so the demo needs no
 * setup. (Real deployments point peers at their file servers; tests use Apache httpd.)
 */
export async function startDemoSecondary(folder: string): Promise<DemoSecondary> {
  const server = new webdav.WebDAVServer({ port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) =>
    server.setFileSystem('/', new webdav.PhysicalFileSystem(folder), (ok?: boolean) =>
      ok ? resolve() : reject(new Error(`cannot serve ${folder} over WebDAV`)),
    ),
  );
  const http = await new Promise<Server>((resolve) => server.start((s) => resolve(s as Server)));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections?.();
        server.stop(() => resolve());
      }),
  };
}
