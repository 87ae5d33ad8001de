/**
 * A request body that waits: `reading` settles once the receiver starts reading it (nothing is pulled ahead:
 * highWaterMark 0), and `bytes` are sent, and the body ends, only when `finish()` is called. For tests of what the
 * relay does while a body is arriving, without timing.
 */
export function heldBody(bytes: Uint8Array): {
  body: ReadableStream<Uint8Array>;
  reading: Promise<void>;
  finish: () => void;
} {
  let read!: () => void;
  const reading = new Promise<void>((resolve) => (read = resolve));
  let finish!: () => void;
  const rest = new Promise<void>((resolve) => (finish = resolve));
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        read();
        await rest;
        controller.enqueue(bytes);
        controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { body, reading, finish };
}
