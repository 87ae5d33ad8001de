// Serves the edge bundle (dist/edge/edge.js) with the runtime's own HTTP server, on Bun (`Bun.serve`) or Deno
// (`Deno.serve`), on 127.0.0.1 and a port the system picks; prints `READY <port>` once it listens. The bindings come
// as JSON in EDGE_ENV_JSON (what a Worker gets as `env`). Usage:
//   bun edge-host.mjs <bundle path>
//   deno run --allow-net=127.0.0.1 --allow-env=EDGE_ENV_JSON --allow-read=<bundle> edge-host.mjs <bundle path>
// Plain JavaScript on purpose: it must run as is in any of the runtimes, with nothing of this repository but the
// bundle. It exits when its stdin closes (the test that started it is gone).

const runtime = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : undefined;
if (!runtime) throw new Error('edge-host: run me on Bun or Deno');

const args = runtime === 'deno' ? Deno.args : process.argv.slice(2);
const envJson = runtime === 'deno' ? Deno.env.get('EDGE_ENV_JSON') : process.env.EDGE_ENV_JSON;
const env = JSON.parse(envJson ?? '{}');
const bundle = args[0];
if (!bundle) throw new Error('edge-host: give the bundle path');
const { default: worker } = await import(new URL(`file://${bundle}`).href);
const fetch = (request) => worker.fetch(request, env);

let port;
if (runtime === 'deno') {
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, fetch);
  port = server.addr.port;
} else {
  port = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch }).port;
}
console.log(`READY ${port}`);

// Exit with the parent: read stdin until it closes.
if (runtime === 'deno') {
  for await (const _ of Deno.stdin.readable) {
    // nothing is sent; the loop ends when the pipe closes
  }
  Deno.exit(0);
} else {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
