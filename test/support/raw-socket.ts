import { connect } from 'node:net';

/**
 * Writes `payload` as it is on a new TCP connection to `url`'s host and port (bytes fetch would never send) and
 * resolves with everything the server wrote back (latin1) once it closes the connection, or after `closeAfterMs`.
 */
export function rawExchange(url: string, payload: string, closeAfterMs = 3000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ host: hostname, port: Number(port) });
    const timer = setTimeout(() => socket.destroy(), closeAfterMs);
    socket.on('data', (data) => {
      text += data.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(payload);
  });
}
