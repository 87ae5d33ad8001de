import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { postChange, waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// A peer whose base URL refuses PROPFIND (403) while the replication user may work below its locations (a server
// that does not let anyone list its root). The probe asked the base URL only, so such a peer was UNAUTHORIZED from
// the relay's start, and stayed so: now a 403 there is followed by a PROPFIND of each replicated location.

describeWithServer(
  'Apache httpd (apt-get install apache2)',
  apacheAvailable,
  'probing a peer whose root refuses',
  () => {
    let apache: ApachePeer;
    const peers: WebDavPeer[] = [];

    beforeAll(async () => {
      apache = await startApache({
        extraConfig: [
          '<LocationMatch "^/$">',
          '  <Limit PROPFIND>',
          '    Require all denied',
          '  </Limit>',
          '</LocationMatch>',
        ],
      });
    });
    afterAll(async () => {
      for (const peer of peers) await peer.close();
      await apache?.close();
    });

    function peer(options: { probePaths?: string[]; password?: string } = {}): WebDavPeer {
      const created = new WebDavPeer({
        name: 'server2',
        url: apache.url,
        username: apache.username,
        password: options.password ?? apache.password,
        probePaths: options.probePaths,
      });
      peers.push(created);
      return created;
    }

    it('takes the peer for up when a replicated location answers, and for refused when none does', async () => {
      expect(await peer().probe()).toMatchObject({ kind: 'unauthorized', reason: 'PROPFIND /: HTTP 403' });
      expect(await peer({ probePaths: ['/user_homes'] }).probe()).toEqual({ kind: 'applied' });
      // A wrong password is refused below the root too.
      expect(await peer({ probePaths: ['/user_homes'], password: 'not-the-password' }).probe()).toMatchObject({
        kind: 'unauthorized',
        reason: 'PROPFIND /user_homes: HTTP 401',
      });
      const asked = (await apache.requests())
        .filter((r) => r.method === 'PROPFIND')
        .map((r) => `${r.path} ${r.status}`);
      expect(asked).toEqual(['/ 403', '/ 403', '/user_homes/ 404', '/ 403', '/user_homes/ 401']);
    });

    it('a relay replicating to it reports it ONLINE from the start and replays to it', async () => {
      const relay = await startTestRelay({
        peers: [peerConfig(apache, 'server2')],
        vfs: [{ path: '/user_homes', replicate: true }],
      });
      try {
        await waitFor(async () => {
          const [p] = (await (await fetch(`${relay.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
            lastPingAt: string | null;
          }[];
          return p?.lastPingAt != null;
        }, 10_000);
        await postChange(relay.url, NODE_A_TOKEN, {
          action: 'upload',
          path: '/user_homes/probe/a.txt',
          body: Buffer.from('arrived'),
        });
        await waitFor(async () => (await apache.tree()).has('user_homes/probe/a.txt'), 20_000);
        const [p] = (await (await fetch(`${relay.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
          status: string;
        }[];
        expect(p?.status).toBe('ONLINE');
      } finally {
        await relay.close();
      }
    });
  },
);
