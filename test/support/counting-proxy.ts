import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback that counts the HTTP requests passing through it, including those it cannot deliver
 * because the server behind it is down: proof of what the relay sends to a peer that is offline.
 */
export class CountingProxy {
  readonly requests: string[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.handle(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Requests seen since `mark` (an index into `requests`), as "METHOD path". */
  since(mark: number): string[] {
    return this.requests.slice(mark);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(client: Socket): void {
    this.sockets.add(client);
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(upstream);
    let upstreamDead = false;
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      // Request lines start a message; bodies in these tests are random bytes or XML, never "METHOD /x HTTP/1.1".
      for (const match of chunk.toString('latin1').matchAll(/(?:^|\r\n)([A-Z]+) (\/\S*) HTTP\/1\.1\r\n/g)) {
        this.requests.push(`${match[1]} ${match[2]}`);
      }
      if (upstreamDead) return end();
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (chunk) => {
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    upstream.on('error', () => {
      // The server is down: hold the client until its request arrives, so that the request is counted.
      upstreamDead = true;
      setTimeout(end, 1000).unref();
    });
    upstream.on('close', () => {
      if (!upstreamDead) end();
    });
    client.on('close', end);
    client.on('error', end);
  }
}
