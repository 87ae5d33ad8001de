import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface HeldRequest {
  method: string;
  path: string;
}

interface Hold {
  matches: (r: HeldRequest) => boolean;
  /** Hold every matching request (default: the next one only). */
  all: boolean;
  /** Resolves when a matching request arrived (and is being held). */
  arrived: Promise<HeldRequest>;
  release: () => void;
  signalArrival: (r: HeldRequest) => void;
  gate: Promise<void>;
}

/**
 * An HTTP proxy on loopback in front of one server, for tests that need a request to wait: `hold(predicate)`
 * makes the next matching request wait (before it reaches the server) until `release()`. Everything else
 * passes through, streamed. Every request is recorded as "METHOD path".
 */
export class HoldingProxy {
  readonly requests: string[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly holds: Hold[] = [];
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.forward(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Holds the next request that matches (or every one, with `all`), until the returned release is called. */
  hold(
    matches: (r: HeldRequest) => boolean,
    options: { all?: boolean } = {},
  ): { arrived: Promise<HeldRequest>; release: () => void } {
    let release = () => {};
    let signalArrival: (r: HeldRequest) => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const arrived = new Promise<HeldRequest>((resolve) => {
      signalArrival = resolve;
    });
    const hold: Hold = { matches, all: options.all ?? false, arrived, release, signalArrival, gate };
    this.holds.push(hold);
    return {
      arrived,
      release: () => {
        const at = this.holds.indexOf(hold);
        if (at >= 0) this.holds.splice(at, 1);
        release();
      },
    };
  }

  async close(): Promise<void> {
    for (const hold of this.holds.splice(0)) hold.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seen = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname),
    };
    this.requests.push(`${seen.method} ${seen.path}`);
    const hold = this.holds.find((h) => h.matches(seen));
    if (hold) {
      // One request per hold unless `all`: later ones pass.
      if (!hold.all) this.holds.splice(this.holds.indexOf(hold), 1);
      hold.signalArrival(seen);
      await hold.gate;
    }
    const upstream = request(
      { host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
